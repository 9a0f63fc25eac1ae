import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { CfnAddon, CfnPodIdentityAssociation } from 'aws-cdk-lib/aws-eks';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IDependable } from 'constructs';
import { topology } from '../topology';
import { COLLECTOR, collectorManifests, SIDECAR_CONTAINER } from './collector-manifests';

export interface ObservabilityProps {
  readonly cluster: eks.Cluster;
  /** The cluster's name as set (not a token), for names the console shows. */
  readonly clusterName: string;
  /** The ElastiCache Serverless cache's name, for its ECPU widget and alarm. */
  readonly cacheName: string;
  /** The cache's ECPU-per-second ceiling (cacheMaxEcpuPerSecond): the ECPU alarm fires near it. */
  readonly cacheMaxEcpuPerSecond: number;
  /** Email for the alarms' SNS topic. @default no topic: the alarms show in the console only */
  readonly alarmEmail?: string;
  /** The orders namespace must exist before the collector goes into it: the app's namespace manifest. */
  readonly dependsOn: IDependable[];
  readonly logRetention: logs.RetentionDays;
  /** The Dapr control plane's namespace, where the collector scrapes Sentry. */
  readonly daprNamespace: string;
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
  /** One log group per kind of container log, the stack's own. */
  readonly containerLogGroups: logs.LogGroup[];
  readonly alarms: cloudwatch.Alarm[];
  readonly alarmTopic?: sns.Topic;

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
      manifest: collectorManifests({ region, metricsLogGroupName: this.metricsLogGroup.logGroupName, daprNamespace: props.daprNamespace }),
      overwrite: true,
    }));
    // Pods get Pod Identity credentials only if the association exists when they start.
    collector.node.addDependency(association, this.metricsLogGroup);
    for (const dependency of props.dependsOn) collector.node.addDependency(dependency);

    this.dashboard = this.makeDashboard(props.clusterName, props.cacheName);
    this.containerLogGroups = this.containerLogs(props);
    this.alarms = this.makeAlarms(props);
    if (props.alarmEmail) {
      // Encrypted with a key CloudWatch may use would need a customer key: see the SNS2 note below.
      this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: `${props.clusterName} orders alarms`, enforceSSL: true });
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
      Validations.of(this.alarmTopic).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SNS2',
        reason: 'CloudWatch alarms can publish to an encrypted topic only with a customer managed key whose policy admits CloudWatch (not the aws/sns key); the messages carry alarm names and states, no data.',
      });
      for (const alarm of this.alarms) alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    }
  }

  /**
   * Every container's logs, the apps', the sidecars' and dapr-system's, in CloudWatch Logs: the
   * Amazon CloudWatch Observability add-on, the way AWS documents for EKS, Auto Mode included
   * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/install-CloudWatch-Observability-EKS-addon.html).
   * Its Fluent Bit sends container logs to /aws/containerinsights/<cluster>/application, the
   * nodes' to /dataplane and /host, and its agent Container Insights' metrics to /performance
   * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-setup-logs-FluentBit.html).
   * Made here first, with the stack's retention, they are the stack's to delete.
   */
  private containerLogs(props: ObservabilityProps): logs.LogGroup[] {
    const groups = ['application', 'dataplane', 'host', 'performance'].map(
      (kind) =>
        new logs.LogGroup(this, `ContainerLogs-${kind}`, {
          logGroupName: `/aws/containerinsights/${props.clusterName}/${kind}`,
          retention: props.logRetention,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
    );
    const principal = new iam.ServicePrincipal('pods.eks.amazonaws.com');
    const role = new iam.Role(this, 'CloudWatchAgentRole', {
      assumedBy: principal,
      description: `The CloudWatch Observability add-on's agent and Fluent Bit in EKS cluster ${props.clusterName}`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('CloudWatchAgentServerPolicy')],
    });
    role.assumeRolePolicy?.addStatements(new iam.PolicyStatement({ actions: ['sts:TagSession'], principals: [principal] }));
    Validations.of(role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/CloudWatchAgentServerPolicy]',
      reason: 'The policy AWS documents for the CloudWatch Observability add-on, kept current by AWS as the agent changes.',
    });
    const addon = new CfnAddon(this, 'CloudWatchObservability', {
      clusterName: props.cluster.clusterName,
      addonName: 'amazon-cloudwatch-observability',
      // Its agent and Fluent Bit run as this service account in amazon-cloudwatch; Pod Identity gives them the role.
      podIdentityAssociations: [{ serviceAccount: 'cloudwatch-agent', roleArn: role.roleArn }],
      resolveConflicts: 'OVERWRITE',
    });
    addon.node.addDependency(...groups);
    return groups;
  }

  /**
   * Alarms on what the dashboard shows, each on a metric as the apps, daprd, Sentry and the
   * collector emit it (EXPORTED_METRICS) or as ElastiCache publishes it.
   */
  private makeAlarms(props: ObservabilityProps): cloudwatch.Alarm[] {
    const minute = Duration.minutes(1);
    const metric = (metricName: string, dimensionsMap: Record<string, string>, statistic: string) =>
      new cloudwatch.Metric({ namespace: COLLECTOR.metricsNamespace, metricName, dimensionsMap, statistic, period: minute });
    const alarm = (id: string, description: string, options: Omit<cloudwatch.CreateAlarmOptions, 'alarmDescription'> & { metric: cloudwatch.IMetric }) =>
      new cloudwatch.Alarm(this, id, { alarmName: `${props.clusterName}-${id}`, alarmDescription: description, ...options });
    const breakerOpens = (appId: string) => metric('dapr_resiliency_activations_total', { app_id: appId, policy: 'circuitbreaker', status: 'open' }, 'Sum');
    return [
      // order-store answers 503 (state_unavailable) or 500 (internal); it counts each refusal by status.
      alarm('OrderStore5xx', 'order-store answered 5xx to 5 or more orders a minute for 3 minutes', {
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(s503, 0) + FILL(s500, 0)',
          usingMetrics: {
            s503: metric('order_store_orders_rejected_total', { status: '503' }, 'Sum'),
            s500: metric('order_store_orders_rejected_total', { status: '500' }, 'Sum'),
          },
          label: 'order-store 5xx per minute',
          period: minute,
        }),
        threshold: 5,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      alarm('OrderStoreP99', "order-store's p99 latency over 1 s on its worst replica for 5 minutes", {
        metric: metric('order_store_request_latency_seconds', { quantile: '0.99' }, 'Maximum'),
        threshold: 1,
        evaluationPeriods: 5,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // A circuit breaker of either sidecar opening (Dapr's resiliency metrics, status "open").
      alarm('CircuitBreakerOpen', "a Dapr circuit breaker opened (order-generator's to order-store, or order-store's to the cache)", {
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(generator, 0) + FILL(store, 0)',
          usingMetrics: {
            generator: breakerOpens(topology.orderGenerator.appId),
            store: breakerOpens(topology.orderStore.appId),
          },
          label: 'circuit breakers opened per minute',
          period: minute,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // ElastiCacheProcessingUnits is the ECPUs consumed, summed per period
      // (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/serverless-metrics-events-redis.html);
      // past cacheMaxEcpuPerSecond the cache throttles.
      alarm('CacheEcpuNearCeiling', `the cache used over 80% of its ${props.cacheMaxEcpuPerSecond} ECPU/s ceiling for 5 minutes`, {
        metric: new cloudwatch.Metric({
          namespace: 'AWS/ElastiCache',
          metricName: 'ElastiCacheProcessingUnits',
          dimensionsMap: { clusterId: props.cacheName },
          statistic: 'Sum',
          period: minute,
        }),
        threshold: 0.8 * props.cacheMaxEcpuPerSecond * minute.toSeconds(),
        evaluationPeriods: 5,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // Days until Sentry's issuer certificate expires: the metric is its expiry in Unix seconds,
      // EPOCH() each point's own time.
      alarm('MtlsIssuerExpiry', "Dapr Sentry's mTLS issuer certificate expires within 30 days: renew it (infra/cdk/README.md)", {
        metric: new cloudwatch.MathExpression({
          expression: '(expiry - EPOCH(expiry)) / 86400',
          usingMetrics: { expiry: metric('dapr_sentry_issuercert_expiry_timestamp', {}, 'Minimum').with({ period: Duration.hours(1) }) },
          label: 'days until the mTLS issuer expires',
          period: Duration.hours(1),
        }),
        threshold: 30,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }),
    ];
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
