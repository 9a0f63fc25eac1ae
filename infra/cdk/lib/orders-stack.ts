import { Annotations, CfnOutput, type CfnResource, Stack, type StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { Cache } from './cache';
import { Cluster } from './cluster';
import { DaprControlPlane } from './dapr-control-plane';
import { ownLambdaLogGroups } from './lambda-log-groups';
import { cacheCredentialsOf, loadDeployDir } from './manifests';
import { Network } from './network';
import { NetworkPolicyEnforcement } from './network-policy';
import { suppressNagFindings } from './nag-suppressions';
import { COLLECTOR_EXPORT_COMPONENT, ORDER_TRACE_QUERY } from './observability/collector-manifests';
import { Observability } from './observability/observability';
import { type AppImage, OrdersApp } from './orders-app';
import type { Settings } from './settings';
import { TeardownCheck } from './teardown-check';
import { topology } from './topology';

export interface OrdersStackProps extends StackProps {
  /** Everything a user sets through context; see settings.ts for each default. */
  readonly settings: Settings;
  /** The IAM user or role deploying, which the admin role trusts without adminPrincipalArns (cluster.ts). */
  readonly deployingPrincipalArn?: string;
}

/**
 * The whole orders system on AWS: network, EKS cluster, ElastiCache Serverless, the Dapr control
 * plane and the two apps, with outputs that say how to use it.
 */
export class OrdersStack extends Stack {
  readonly network: Network;
  readonly cluster: Cluster;
  readonly cache: Cache;
  readonly dapr: DaprControlPlane;
  readonly app: OrdersApp;
  readonly observability: Observability;
  readonly teardownCheck: TeardownCheck;

  constructor(scope: Construct, id: string, props: OrdersStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const retention = settings.logRetentionDays as logs.RetentionDays;

    this.network = new Network(this, 'Network', {
      maxAzs: settings.maxAzs,
      natGateways: settings.natGateways,
      flowLogRetention: retention,
    });

    this.cluster = new Cluster(this, 'Cluster', {
      vpc: this.network.vpc,
      clusterName: settings.clusterName,
      apiAllowedCidrs: settings.apiAllowedCidrs,
      adminPrincipalArns: settings.adminPrincipalArns,
      ...optional('deployingPrincipalArn', props.deployingPrincipalArn),
      logRetention: retention,
    });
    // Nodes pull images through the NAT gateways as soon as the cluster schedules anything: the
    // whole network first. It also means the network outlives the cluster on delete.
    this.cluster.cluster.node.addDependency(this.network.vpc);

    const deployObjects = loadDeployDir().files.flatMap((file) => file.objects);
    this.cache = new Cache(this, 'Cache', {
      clientUserName: cacheCredentialsOf(deployObjects, topology.stateStore).username,
      vpc: this.network.vpc,
      clientSecurityGroup: this.cluster.securityGroup,
      name: `${settings.clusterName.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 34)}-state`,
      maxDataStorageGb: settings.cacheMaxDataStorageGb,
      maxEcpuPerSecond: settings.cacheMaxEcpuPerSecond,
    });
    // Its security group's rules name the cluster security group, which EKS deletes with the
    // cluster: the cache and its group go first, in an order CloudFormation runs, not a race.
    // Created after the cluster, the cache is still ready before its first client, the Dapr
    // resources, which wait for the Dapr chart.
    this.cache.cache.addResourceDependency(this.cluster.cluster.node.defaultChild as CfnResource);

    // Deleted after the workloads and Dapr's namespace (which depend on it) and before the network
    // and the cluster (which it depends on): on `cdk destroy` it confirms that the NLB of
    // order-store's Service, what else Auto Mode made for it in the VPC, and the EBS volumes of
    // the Dapr scheduler are gone, while the network and the cluster still stand.
    this.teardownCheck = new TeardownCheck(this, 'TeardownCheck', {
      vpc: this.network.vpc,
      clusterName: settings.clusterName,
      expectedSecurityGroupIds: [this.cluster.securityGroup.securityGroupId],
      logRetention: retention,
    });
    this.teardownCheck.node.addDependency(this.network.vpc, this.cluster.cluster);

    this.dapr = new DaprControlPlane(this, 'Dapr', {
      cluster: this.cluster.cluster,
      version: settings.daprVersion,
      highAvailability: settings.daprHa,
    });
    // Its namespace, and the scheduler's volumes in it, go before the check.
    this.dapr.prerequisites.node.addDependency(this.teardownCheck);

    const networkPolicies = new NetworkPolicyEnforcement(this, 'NetworkPolicies', { cluster: this.cluster.cluster });
    const image = (uri: string | undefined): AppImage | undefined => (uri ? { uri } : undefined);
    this.app = new OrdersApp(this, 'Orders', {
      cluster: this.cluster.cluster,
      cacheEndpoint: this.cache.endpoint,
      dependsOn: [this.dapr.chart, this.network.vpc, this.teardownCheck],
      ...optional('orderStoreImage', image(settings.orderStoreImage)),
      ...optional('orderGeneratorImage', image(settings.orderGeneratorImage)),
      allowedClientCidrs: settings.allowedClientCidrs,
      ...optional('certificateArn', settings.certificateArn),
      cachePasswordSecret: this.cache.password,
      // The NLB's addresses are in the public subnets, the cache's endpoints in the private ones.
      networkPolicyCidrs: {
        loadBalancer: this.network.vpc.publicSubnets.map((subnet) => subnet.ipv4CidrBlock),
        cache: this.network.vpc.privateSubnets.map((subnet) => subnet.ipv4CidrBlock),
      },
      workloadsDependOn: [networkPolicies.manifest],
      orderStoreReplicas: settings.orderStoreReplicas,
      orderGeneratorReplicas: settings.orderGeneratorReplicas,
      writeToken: settings.writeToken,
      daprVersion: this.dapr.version,
      // The apps and sidecars export their traces to the collector Observability runs.
      components: [COLLECTOR_EXPORT_COMPONENT],
    });

    this.observability = new Observability(this, 'Observability', {
      cluster: this.cluster.cluster,
      clusterName: settings.clusterName,
      cacheName: this.cache.cache.ref,
      cacheMaxEcpuPerSecond: settings.cacheMaxEcpuPerSecond,
      ...optional('alarmEmail', settings.alarmEmail),
      dependsOn: [this.app.namespace],
      logRetention: retention,
      daprNamespace: this.dapr.namespace,
    });
    // The collector's Service exists before the first Pod sends it a span or a scrape is due.
    this.app.workloads.node.addDependency(this.observability.collector);

    if (settings.allowedClientCidrs.includes('0.0.0.0/0')) {
      Annotations.of(this).addWarningV2(
        'orders:open-load-balancer',
        'The order-store load balancer admits any address; set -c allowedClientCidrs=<your CIDRs> to narrow it.',
      );
    }
    if (!settings.certificateArn) {
      Annotations.of(this).addWarningV2(
        'orders:plain-http-load-balancer',
        `The order-store load balancer speaks plain HTTP: ${settings.writeToken ? 'the write token and ' : ''}the orders cross the network in cleartext, readable and replayable by anyone on the path; set -c certificateArn=<ACM ARN> -c domainName=<its name> for TLS on 443.`,
      );
    }
    if (settings.apiAllowedCidrs.includes('0.0.0.0/0')) {
      Annotations.of(this).addWarningV2(
        'orders:open-api-endpoint',
        'The Kubernetes API endpoint admits any address (IAM still authenticates each call); set -c apiAllowedCidrs=<your CIDRs> to narrow it.',
      );
    }

    this.outputs(settings);
    ownLambdaLogGroups(this, retention);
    suppressNagFindings(this);
  }

  private outputs(settings: Settings): void {
    // With TLS, clients must use the certificate's name, which the user points at the NLB.
    const url = settings.domainName ? `https://${settings.domainName}` : `http://${this.app.loadBalancerHostname}`;
    const ns = topology.namespace;
    const writeSecret = this.app.tokenSecrets.writeToken;
    const auth = writeSecret ? ' -H "Authorization: Bearer $TOKEN"' : '';
    new CfnOutput(this, 'LoadBalancerUrl', { description: 'order-store through its NLB', value: url });
    if (settings.domainName) {
      new CfnOutput(this, 'DnsRecord', {
        description: `Point ${settings.domainName} at the NLB (in your DNS zone) before using LoadBalancerUrl`,
        value: `${settings.domainName}. CNAME ${this.app.loadBalancerHostname}.`,
      });
    }
    new CfnOutput(this, 'NewOrderCommand', {
      description: writeSecret ? 'Store an order through the load balancer (after the WriteTokenCommand)' : 'Store an order through the load balancer (no token: writeToken=false)',
      value: `curl -sS -X POST${auth} -H 'Content-Type: application/json' -d '{"data":{"orderId":"curl-1"}}' ${url}/neworder`,
    });
    new CfnOutput(this, 'GetOrderCommand', {
      description: 'Read the latest order, which order-generator keeps replacing',
      value: `curl -sS ${url}/order`,
    });
    if (writeSecret) {
      new CfnOutput(this, 'WriteTokenCommand', {
        description: 'Put the write token in $TOKEN (needs the kubeconfig from KubeconfigCommand)',
        value: `export TOKEN=$(kubectl get secret ${writeSecret} -n ${ns} -o jsonpath='{.data.token}' | base64 -d)`,
      });
    }
    new CfnOutput(this, 'KubeconfigCommand', {
      description: 'Point kubectl at the cluster, as its admin role',
      value: `aws eks update-kubeconfig --name ${this.cluster.cluster.clusterName} --region ${this.region} --role-arn ${this.cluster.adminRole.roleArn}`,
    });
    new CfnOutput(this, 'CacheEndpoint', {
      description: 'ElastiCache Serverless endpoint (TLS), reachable only from the cluster',
      value: this.cache.endpoint,
    });
    new CfnOutput(this, 'DashboardUrl', { description: 'CloudWatch dashboard: orders/s, latency, errors, circuit breakers, cache ECPU', value: this.observability.dashboardUrl });
    new CfnOutput(this, 'TracesUrl', {
      description: `X-Ray traces; an order's trace: filter ${ORDER_TRACE_QUERY('<orderId>')}`,
      value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#xray:traces/query`,
    });
    new CfnOutput(this, 'DaprVersion', { description: 'Dapr control plane and chart version', value: settings.daprVersion });
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
