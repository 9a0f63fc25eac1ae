import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';

export interface CacheProps {
  /** The VPC; the cache gets an endpoint in each of its private subnets. */
  readonly vpc: ec2.IVpc;
  /** The only security group let in, on the cache port only: the cluster's nodes. */
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
    // 6379 is the serverless endpoint's port; 6380 is its read-from-replica port, unused by Dapr.
    this.securityGroup.addIngressRule(
      props.clientSecurityGroup,
      ec2.Port.tcp(6379),
      'Dapr sidecars on the EKS nodes to the cache endpoint',
    );

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
