import { Fn, RemovalPolicy, Stack, Tags, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /**
   * Availability zones to spread subnets over. EKS and ElastiCache Serverless both need two;
   * Dapr in HA mode three.
   * @default 3
   */
  readonly maxAzs?: number;
  /**
   * NAT gateways for the private subnets' egress (image pulls, AWS APIs). One keeps the bill low;
   * one per AZ keeps egress up when an AZ fails.
   * @default 1
   */
  readonly natGateways?: number;
  /**
   * The VPC's IPv4 range.
   * @default '10.0.0.0/16'
   */
  readonly cidr?: string;
  /**
   * Days to keep the VPC flow logs.
   * @default logs.RetentionDays.ONE_WEEK
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

/**
 * The VPC: public subnets hold only the internet-facing load balancer and the NAT gateways;
 * nodes, pods and the cache live in private subnets.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);

    const maxAzs = props.maxAzs ?? 3;
    // A stack without both an account and a region (a synth without credentials) knows only two
    // zones, Fn::GetAZs' first two (Stack.availabilityZones); ask for the third by index too. With
    // both, the stack looks the zones' names up and maxAzs picks from them.
    const zones = Stack.of(this).availabilityZones.every((zone) => Token.isUnresolved(zone))
      ? { availabilityZones: Array.from({ length: maxAzs }, (_, index) => Fn.select(index, Fn.getAzs())) }
      : { maxAzs };
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.0.0.0/16'),
      ...zones,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        // Auto Mode gives every pod a VPC address: size private subnets for pods, not nodes.
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 19 },
      ],
    });

    // Auto Mode chooses the subnets of a load balancer by these tags: public subnets tagged
    // kubernetes.io/role/elb for internet-facing ones, private ones kubernetes.io/role/internal-elb
    // for internal ones (https://docs.aws.amazon.com/eks/latest/userguide/tag-subnets-auto.html).
    // Without the public tag, order-store's internet-facing Service never gets its NLB.
    for (const subnet of this.vpc.publicSubnets) Tags.of(subnet).add('kubernetes.io/role/elb', '1');
    for (const subnet of this.vpc.privateSubnets) Tags.of(subnet).add('kubernetes.io/role/internal-elb', '1');

    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Rejected packets only: they answer "why can't X reach Y" (a pod and the cache, the load
    // balancer and a pod) at a fraction of the cost of logging every accepted flow.
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
  }
}
