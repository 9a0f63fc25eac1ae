import { KubectlV36Layer } from '@aws-cdk/lambda-layer-kubectl-v36';
import { Annotations, DefaultStackSynthesizer, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import kubernetesVersions from '../kubernetes-versions.json';

/**
 * The Kubernetes minor EKS runs: the one pinned in kubernetes-versions.json, whose kube-apiserver
 * the control-plane tests (proving-ground/test/kubernetes) run deploy/ against. The kubectl layer below must be
 * of the same minor (@aws-cdk/lambda-layer-kubectl-v36).
 */
export const KUBERNETES_MINOR = kubernetesVersions.kubernetes.split('.').slice(0, 2).join('.');

/**
 * What EKS does when the pinned minor's standard support ends: STANDARD upgrades the cluster to the
 * next minor; EXTENDED, CloudFormation's default, keeps it on the old one at the extended-support
 * price per cluster hour (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-eks-cluster-upgradepolicy.html,
 * https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html). Stay ahead of the
 * date in kubernetes-versions.json (`eks.endOfStandardSupport`) instead.
 */
export const UPGRADE_SUPPORT_TYPE = 'STANDARD';

export interface ClusterProps {
  /** The VPC; nodes and pods go in its private subnets. */
  readonly vpc: ec2.IVpc;
  /**
   * The EKS cluster name. Fixed rather than generated so that the control-plane log group,
   * which EKS would otherwise create outside CloudFormation and leave behind, can be created
   * (and deleted) by the stack.
   * @default 'orders'
   */
  readonly clusterName?: string;
  /**
   * CIDRs that may reach the public Kubernetes API endpoint. Every request still needs an IAM
   * identity with an access entry.
   * @default ['0.0.0.0/0']
   */
  readonly apiAllowedCidrs?: string[];
  /**
   * IAM users or roles, by ARN, to give cluster-admin access entries, for example the SSO role
   * you deploy with; the admin role trusts them too.
   * @default - none; the admin role below is always created
   */
  readonly adminPrincipalArns?: string[];
  /**
   * The IAM user or role deploying the stack: the admin role trusts it when adminPrincipalArns is
   * empty. Found by bin/app.ts from the CLI's credentials (deploying-identity.ts).
   * @default - none: the CDK deploy role, with a synth warning
   */
  readonly deployingPrincipalArn?: string;
  /**
   * Days to keep control-plane logs.
   * @default logs.RetentionDays.ONE_WEEK
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * An EKS cluster in Auto Mode: EKS runs the nodes (Bottlerocket, right-sized and patched by
 * Karpenter), CoreDNS, the VPC CNI, EBS CSI and the load balancer controller that turns a
 * Service of type LoadBalancer into an NLB. Managed node groups would need the load balancer
 * controller, its IAM role and the add-ons installed and upgraded by this stack; Auto Mode's
 * surcharge on instance prices buys all of that away.
 */
export class Cluster extends Construct {
  readonly cluster: eks.Cluster;
  /**
   * The cluster-admin role `KubeconfigCommand` assumes. It trusts adminPrincipalArns, or else the
   * deploying identity, by ARN: not the account root, which would let any principal of the
   * account allowed sts:AssumeRole on it administer the cluster and read its Secrets.
   */
  readonly adminRole: iam.Role;

  /** The kubectl handler's security group: the stack's, so CloudFormation orders its deletion. */
  readonly kubectlSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ClusterProps) {
    super(scope, id);
    const clusterName = props.clusterName ?? 'orders';
    this.kubectlSecurityGroup = new ec2.SecurityGroup(this, 'KubectlSecurityGroup', {
      vpc: props.vpc,
      description: 'kubectl/helm handler of aws-eks-v2: HTTPS to the EKS API endpoint and AWS APIs',
      allowAllOutbound: false,
    });

    // EKS writes control-plane logs to exactly this group, creating it if it is missing; made
    // here first, it is the stack's to delete on destroy.
    const controlPlaneLogs = new logs.LogGroup(this, 'ControlPlaneLogs', {
      logGroupName: `/aws/eks/${clusterName}/cluster`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const trusted = props.adminPrincipalArns?.length ? props.adminPrincipalArns : props.deployingPrincipalArn ? [props.deployingPrincipalArn] : [cdkDeployRoleArn(this)];
    this.adminRole = new iam.Role(this, 'AdminRole', {
      assumedBy: new iam.CompositePrincipal(...trusted.map((arn) => new iam.ArnPrincipal(arn))),
      description: `Cluster admin for EKS cluster ${clusterName}: aws eks update-kubeconfig --role-arn`,
    });

    this.cluster = new eks.Cluster(this, 'Cluster', {
      clusterName,
      version: eks.KubernetesVersion.of(KUBERNETES_MINOR),
      vpc: props.vpc,
      vpcSubnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
      defaultCapacityType: eks.DefaultCapacityType.AUTOMODE,
      compute: { nodePools: ['system', 'general-purpose'], nodeRole: this.nodeRole() },
      endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(...(props.apiAllowedCidrs ?? ['0.0.0.0/0'])),
      // The kubectl handler (and its provider framework function) that applies every manifest and
      // chart. With private endpoint access and private subnets, aws-eks-v2 puts both in the
      // cluster's private subnets (cluster.js: kubectlSubnets = the private subnets when
      // endpointAccess has privateAccess; kubectl-provider.js: vpc and vpcSubnets of the
      // Function and the Provider), with these security groups, or else the EKS-managed cluster
      // security group. That group is EKS's, not CloudFormation's: Lambda's network interfaces
      // in it are invisible to the stack's delete order. The stack's own group is deleted by
      // CloudFormation after both functions, which reference it, and CloudFormation waits, when it
      // deletes a function, until Lambda has deleted its network interfaces
      // (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-function-vpcconfig.html).
      // The subnets, which the functions reference too, go after them.
      kubectlProviderOptions: { kubectlLayer: new KubectlV36Layer(this, 'KubectlLayer'), securityGroups: [this.kubectlSecurityGroup] },
      clusterLogging: [
        eks.ClusterLoggingTypes.API,
        eks.ClusterLoggingTypes.AUDIT,
        eks.ClusterLoggingTypes.AUTHENTICATOR,
        eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
        eks.ClusterLoggingTypes.SCHEDULER,
      ],
      // Kubernetes 1.28 and later on EKS envelope-encrypt Secrets with an AWS-owned KMS key by
      // default; a customer key would add a key to pay for and to schedule for deletion.
      mastersRole: this.adminRole,
      // The stack prints its own, with the region.
      outputConfigCommand: false,
    });
    this.cluster.node.addDependency(controlPlaneLogs);
    // aws-eks-v2's Cluster (aws-cdk-lib 2.276.0) has no upgrade-policy prop: set it on its CfnCluster.
    (this.cluster.node.defaultChild as eks.CfnCluster).upgradePolicy = { supportType: UPGRADE_SUPPORT_TYPE };

    // The handler reaches the API server through the private endpoint, whose network interfaces
    // carry the cluster security group and the control-plane group the construct adds
    // (cluster.connections, default port 443), and AWS APIs (EKS, STS, S3 for the chart asset)
    // and the Dapr chart repository over HTTPS through the NAT gateway; names it resolves with
    // the VPC's resolver, inside the VPC's range.
    const endpointGroups = this.cluster.connections.securityGroups;
    for (const group of endpointGroups) {
      group.addIngressRule(this.kubectlSecurityGroup, ec2.Port.tcp(443), 'kubectl handler to the private API endpoint');
    }
    this.kubectlSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'API endpoint, AWS APIs and the Helm chart repository');
    for (const port of [ec2.Port.udp(53), ec2.Port.tcp(53)]) {
      this.kubectlSecurityGroup.addEgressRule(ec2.Peer.ipv4(props.vpc.vpcCidrBlock), port, 'DNS to the VPC resolver');
    }
    // Every kubectl resource depends on this barrier (cluster.js _dependOnKubectlBarrier). Put
    // the groups and their rules under it, and the rules exist before the first manifest is
    // applied and are deleted only after the last one is.
    this.cluster.node.findChild('KubectlReadyBarrier').node.addDependency(...endpointGroups);

    props.adminPrincipalArns?.forEach((arn, index) => this.cluster.grantClusterAdmin(`Admin${index}`, arn));
  }

  /**
   * The role of Auto Mode's nodes, with the two managed policies EKS documents for them; the
   * construct's default adds the broader AmazonEKSWorkerNodePolicy and full ECR read access.
   */
  private nodeRole(): iam.Role {
    return new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonEKSWorkerNodeMinimalPolicy'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonEC2ContainerRegistryPullOnly'),
      ],
    });
  }

  /** The security group EKS gives the control plane and, in Auto Mode, every node. */
  get securityGroup(): ec2.ISecurityGroup {
    return this.cluster.clusterSecurityGroup;
  }
}

/**
 * With neither adminPrincipalArns nor AWS credentials to name the deploying identity (an offline
 * `cdk synth`), the admin role trusts the CDK bootstrap's deploy role, which `cdk deploy` assumes:
 * only who may deploy the stack may administer its cluster. Synth warns, since a person then
 * needs -c adminPrincipalArns to use KubeconfigCommand.
 */
function cdkDeployRoleArn(scope: Construct): string {
  const synthesizer = Stack.of(scope).synthesizer;
  if (!(synthesizer instanceof DefaultStackSynthesizer)) {
    throw new Error('the admin role trusts nobody: set -c adminPrincipalArns=arn:aws:iam::<account>:role/<role>');
  }
  Annotations.of(scope).addWarningV2('orders:adminPrincipal', 'No adminPrincipalArns and no AWS credentials: the cluster-admin role trusts only the CDK deploy role. Set -c adminPrincipalArns=<your IAM role or user ARN> to use KubeconfigCommand.');
  // The synthesizer's ARN holds ${AWS::AccountId}-style placeholders, for CloudFormation to fill in.
  return Fn.sub(synthesizer.deployRoleArn);
}
