import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { CfnPodIdentityAssociation } from 'aws-cdk-lib/aws-eks';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IDependable } from 'constructs';
import { topology } from '../topology';
import { COLLECTOR, collectorManifests, SIDECAR_CONTAINER } from './collector-manifests';

export interface ObservabilityProps {
  readonly cluster: eks.Cluster;
  /** The cluster's name as set (not a token), for names the console shows. */
  readonly clusterName: string;
  /** The ElastiCache Serverless cache's name, for its ECPU widget. */
  readonly cacheName: string;
  /** The orders namespace must exist before the collector goes into it: the app's namespace manifest. */
  readonly dependsOn: IDependable[];
  readonly logRetention: logs.RetentionDays;
}

/**
 * Traces and metrics on AWS: the ADOT collector (collector-manifests.ts) with an EKS Pod Identity
 * role that may write trace segments to X-Ray and metric events to one log group, and nothing
 * else, and a CloudWatch dashboard of the order path.
 */
export class Observability extends Construct {
  readonly role: iam.Role;
  readonly metricsLogGroup: logs.LogGroup;
  readonly dashboard: cloudwatch.Dashboard;
  /** The collector's manifest: the workloads that send to it depend on it (orders-stack.ts). */
  readonly collector: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { cluster } = props;
    const region = Stack.of(this).region;

    this.metricsLogGroup = new logs.LogGroup(this, 'MetricsLogGroup', {
      logGroupName: `/orders/${props.clusterName}/metrics`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // EKS Pod Identity: the role trusts pods.eks.amazonaws.com with sts:AssumeRole and
    // sts:TagSession (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html), and an
    // association binds it to the collector's service account. EKS Auto Mode runs the Pod
    // Identity Agent itself: no add-on to install
    // (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html).
    this.role = new iam.Role(this, 'CollectorRole', {
      assumedBy: new iam.ServicePrincipal('pods.eks.amazonaws.com'),
      description: `The orders OpenTelemetry collector in EKS cluster ${props.clusterName}: X-Ray segments and EMF metric events`,
    });
    this.role.assumeRolePolicy?.addStatements(
      new iam.PolicyStatement({ actions: ['sts:TagSession'], principals: [new iam.ServicePrincipal('pods.eks.amazonaws.com')] }),
    );
    // The awsxray exporter calls PutTraceSegments (and PutTelemetryRecords for its own health);
    // neither takes a resource ARN, so the resource is "*"
    // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html).
    // No GetSamplingRules/Targets: sampling is decided by Dapr and the apps, not by X-Ray.
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], resources: ['*'] }));
    // The awsemf exporter writes to its log group's streams, creating the stream on first use; the
    // group itself is the stack's, so no logs:CreateLogGroup
    // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        // The group's ARN ends in `:*`, which also covers its streams' ARNs (log-group:<name>:log-stream:<stream>).
        resources: [this.metricsLogGroup.logGroupArn],
      }),
    );
    Validations.of(this.role.node.findChild('DefaultPolicy')).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions (Service Authorization Reference, AWS X-Ray); the logs actions are scoped to one log group.',
    });
    const association = new CfnPodIdentityAssociation(this, 'CollectorPodIdentity', {
      clusterName: cluster.clusterName,
      namespace: topology.namespace,
      serviceAccount: COLLECTOR.serviceAccount,
      roleArn: this.role.roleArn,
    });

    const collector = (this.collector = new eks.KubernetesManifest(this, 'Collector', {
      cluster,
      manifest: collectorManifests({ region, metricsLogGroupName: this.metricsLogGroup.logGroupName }),
      overwrite: true,
    }));
    // Pods get Pod Identity credentials only if the association exists when they start.
    collector.node.addDependency(association, this.metricsLogGroup);
    for (const dependency of props.dependsOn) collector.node.addDependency(dependency);

    this.dashboard = this.makeDashboard(props.clusterName, props.cacheName);
  }

  /** The dashboard's URL in the CloudWatch console. */
  get dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${this.dashboard.dashboardName}`;
  }

  private makeDashboard(clusterName: string, cacheName: string): cloudwatch.Dashboard {
    const period = Duration.minutes(1);
    const orders = (metricName: string, dimensionsMap: Record<string, string> = {}, statistic = 'Sum') =>
      new cloudwatch.Metric({ namespace: COLLECTOR.metricsNamespace, metricName, dimensionsMap, statistic, period });
    // awsemf sends a Prometheus counter as the increase since the last scrape, so Sum per minute / 60 is a rate.
    const perSecond = (id: string, metric: cloudwatch.Metric, label: string) =>
      new cloudwatch.MathExpression({ expression: `${id} / PERIOD(${id})`, usingMetrics: { [id]: metric }, label, period });

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${clusterName}-orders`,
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Orders per second',
        left: [
          perSecond('created', orders('order_store_orders_total', { outcome: 'created' }), 'created'),
          perSecond('duplicate', orders('order_store_orders_total', { outcome: 'duplicate' }), 'duplicate'),
          perSecond('confirmed', orders('order_generator_orders_confirmed_total'), 'generator: confirmed'),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Latency p50 / p99 (seconds, last minute per replica; worst replica)',
        left: [
          orders('order_store_request_latency_seconds', { quantile: '0.5' }, 'Maximum').with({ label: 'order-store p50' }),
          orders('order_store_request_latency_seconds', { quantile: '0.99' }, 'Maximum').with({ label: 'order-store p99' }),
          orders('order_generator_order_latency_seconds', { quantile: '0.5' }, 'Maximum').with({ label: 'end to end p50' }),
          orders('order_generator_order_latency_seconds', { quantile: '0.99' }, 'Maximum').with({ label: 'end to end p99' }),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Errors by status',
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${COLLECTOR.metricsNamespace},status} MetricName="order_store_orders_rejected_total"', 'Sum', 60)`,
            label: 'refused',
            period,
          }),
          orders('order_store_orders_total', { outcome: 'conflict' }).with({ label: '409 conflict' }),
          orders('order_generator_retries_total').with({ label: 'generator retries' }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Circuit breaker opens',
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${COLLECTOR.metricsNamespace},app_id,policy,status} MetricName="dapr_resiliency_activations_total" policy="circuitbreaker" status="open"', 'Sum', 60)`,
            label: 'opened',
            period,
          }),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Cache ECPU',
        // ElastiCache Serverless reports the ECPUs its requests consumed as ElastiCacheProcessingUnits,
        // by clusterId (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/serverless-metrics-events-redis.html).
        left: [
          new cloudwatch.Metric({
            namespace: 'AWS/ElastiCache',
            metricName: 'ElastiCacheProcessingUnits',
            dimensionsMap: { clusterId: cacheName },
            statistic: 'Sum',
            period,
          }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Generator backlog and app memory',
        left: [orders('order_generator_backlog', {}, 'Maximum').with({ label: 'backlog' })],
        // Each app apart from its sidecar: the scrape jobs label every series with its container.
        right: [topology.orderStore.appId, topology.orderGenerator.appId].flatMap((app) =>
          [app, SIDECAR_CONTAINER].map((container) =>
            orders('process_resident_memory_bytes', { app, container }, 'Maximum').with({ label: `${app} ${container === app ? 'app' : 'sidecar'} RSS` }),
          ),
        ),
        width: 12,
      }),
    );
    return dashboard;
  }
}
