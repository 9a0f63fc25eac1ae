import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';

export interface CacheProps {
  /** The VPC; the cache gets an endpoint in each of its private subnets. */
  readonly vpc: ec2.IVpc;
  /** The only security group let in, on the cache's two ports only: the cluster's nodes. */
  readonly clientSecurityGroup: ec2.ISecurityGroup;
  /**
   * The cache's name: lowercase letters, digits and hyphens, at most 40 characters.
   * @default 'orders-state'
   */
  readonly name?: string;
  /**
   * Engine: Valkey costs less than Redis OSS serverless and has a smaller billing minimum
   * (100 MB of data against 1 GB); Dapr's state.redis speaks to both.
   * @default 'valkey'
   */
  readonly engine?: 'valkey' | 'redis';
  /**
   * Major engine version.
   * @default '8' for valkey, '7' for redis
   */
  readonly majorEngineVersion?: string;
  /**
   * Stored data the cache may grow to, in GB: a ceiling on the bill, not a reservation.
   * @default 1
   */
  readonly maxDataStorageGb?: number;
  /**
   * ElastiCache Processing Units per second the cache may use: a ceiling on the bill.
   * @default 5000
   */
  readonly maxEcpuPerSecond?: number;
}

/** The ports of a serverless Valkey/Redis OSS cache, and what each one is. */
export const CACHE_PORTS: readonly (readonly [number, string])[] = [
  [6379, 'primary endpoint'],
  [6380, 'read-from-replica endpoint'],
];

/**
 * ElastiCache Serverless for Dapr's state store. Serverless always encrypts in transit (TLS on the
 * one endpoint) and at rest; with no user group, its default user needs no password, so the
 * security group is the access control: only the cluster's nodes reach the cache port.
 */
export class Cache extends Construct {
  readonly cache: elasticache.CfnServerlessCache;
  readonly securityGroup: ec2.SecurityGroup;
  /** The endpoint as `host:port`, for Dapr's redisHost. */
  readonly endpoint: string;

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id);
    const engine = props.engine ?? 'valkey';

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'ElastiCache Serverless: the cache port, from the EKS cluster only',
      allowAllOutbound: false,
    });
    // A serverless cache answers on two ports of the same DNS name: 6379, the primary endpoint,
    // and 6380, the read-from-replica endpoint; AWS says to authorize both
    // (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ReadReplicas.html, "Using read from
    // replica in ElastiCache Serverless"), and its getting-started script opens both
    // (https://docs.aws.amazon.com/code-library/latest/ug/ec2_example_ec2_GettingStarted_065_section.html).
    // Dapr is given 6379, but the topology the cache reports (CLUSTER SLOTS) lists 6380 as a
    // replica, and go-redis's cluster client (state.redis with redisType cluster) keeps every
    // address of that topology: each reload asks one of them, in random order, for the slots
    // (ClusterClient.loadState in osscluster.go of github.com/redis/go-redis/v9 v9.21.0, the
    // version components-contrib v1.18.3 pins). With 6380 closed, such a dial hangs to its timeout.
    for (const [port, what] of CACHE_PORTS) {
      this.securityGroup.addIngressRule(props.clientSecurityGroup, ec2.Port.tcp(port), `Dapr sidecars on the EKS nodes to the cache's ${what}`);
    }

    this.cache = new elasticache.CfnServerlessCache(this, 'Cache', {
      serverlessCacheName: props.name ?? 'orders-state',
      engine,
      // Reachable only through its VPC endpoints: the private subnets below.
      connectionType: 'vpc',
      majorEngineVersion: props.majorEngineVersion ?? (engine === 'valkey' ? '8' : '7'),
      description: 'Dapr state store for the orders system',
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
      securityGroupIds: [this.securityGroup.securityGroupId],
      cacheUsageLimits: {
        dataStorage: { maximum: props.maxDataStorageGb ?? 1, unit: 'GB' },
        ecpuPerSecond: { maximum: props.maxEcpuPerSecond ?? 5000 },
      },
    });
    this.cache.applyRemovalPolicy(RemovalPolicy.DESTROY);
    this.endpoint = `${this.cache.attrEndpointAddress}:${this.cache.attrEndpointPort}`;
  }
}
