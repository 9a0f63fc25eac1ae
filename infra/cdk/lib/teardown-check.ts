import { CustomResource, Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface TeardownCheckProps {
  /** The VPC whose load balancers and security groups are checked. */
  readonly vpc: ec2.IVpc;
  /** The EKS cluster whose persistent volumes' EBS volumes are checked. */
  readonly clusterName: string;
  /**
   * Security groups in the VPC that are not Kubernetes's to delete: the stack's own (found in the
   * stack when it is synthesized) and these, e.g. the one EKS makes for the cluster.
   */
  readonly expectedSecurityGroupIds: string[];
  /** Days to keep the check's log. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * A custom resource that does nothing on create and, on delete, confirms that what Kubernetes
 * made is gone: no Elastic Load Balancing v2 load balancer left in the VPC, no security group in
 * it but the stack's own (and the VPC's default), and no EBS volume of the cluster's but the
 * nodes' own. Auto Mode tags every volume it creates with `eks:eks-cluster-name` (its cluster
 * role's AmazonEKSBlockStoragePolicy allows ec2:CreateVolume only with that request tag,
 * https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEKSBlockStoragePolicy.html);
 * a node's root and data volumes are the ones attached with DeleteOnTermination, and go with the
 * node. A persistent volume's is attached without it, or not at all once its Pod is gone.
 * It waits for them for up to 14 minutes,
 * then fails, and CloudFormation stops the delete there, with the network still standing, instead
 * of deleting the subnets and the internet gateway under an NLB and failing on them after many
 * retries. A retried `cdk destroy` checks again.
 *
 * Why a check of its own: the kubectl handler's delete runs `kubectl delete -f` and only logs a
 * failure (`kubectl-handler/apply/__init__.py` of aws-cdk-lib 2.276.0, `except Exception: logger.info`),
 * and a KubernetesObjectValue reads only on create (`kubectl-handler/get`: Delete is `pass`). When
 * the delete does reach the API server, `kubectl delete` waits for the Service's finalizer
 * (`--wait` defaults to true: "This waits for finalizers", k8s.io/kubectl pkg/cmd/delete), which
 * EKS Auto Mode removes once the NLB is deleted; this check is what confirms it.
 *
 * It runs outside the VPC: it calls AWS APIs only, and leaves no network interface behind.
 */
export class TeardownCheck extends Construct {
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: TeardownCheckProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    role.addToPolicy(
      new iam.PolicyStatement({
        // Describe calls: none of them supports resource-level permissions
        // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html,
        // .../list_awselasticloadbalancingv2.html), so the resource must be *.
        actions: ['elasticloadbalancing:DescribeLoadBalancers', 'ec2:DescribeSecurityGroups', 'ec2:DescribeVolumes'],
        resources: ['*'],
      }),
    );
    const handler = new lambda.Function(this, 'Handler', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline(CHECK_SOURCE),
      timeout: Duration.minutes(15),
      role,
      logGroup,
      description: 'On stack delete: waits until no load balancer, Kubernetes-made security group or persistent volume is left',
    });
    const stack = Stack.of(this);
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: handler.functionArn,
      resourceType: 'Custom::KubernetesTeardownCheck',
      properties: {
        VpcId: props.vpc.vpcId,
        ClusterName: props.clusterName,
        ExpectedSecurityGroupIds: Lazy.list({
          produce: () => [
            ...props.expectedSecurityGroupIds,
            ...stack.node
              .findAll()
              .filter((node): node is ec2.SecurityGroup => node instanceof ec2.SecurityGroup)
              .map((group) => group.securityGroupId),
          ],
        }),
      },
    });
    // The check must be able to run, and log, until its own delete has answered.
    this.resource.node.addDependency(role, logGroup);
  }
}

/**
 * The check's code, inline (the Node.js runtime carries the AWS SDK v3; the package's
 * devDependencies have the two clients for proving-ground/test/teardown-check.test.ts). It answers
 * CloudFormation itself, with the response object of
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html.
 * Exported for the template test, which checks what it looks for.
 */
export const CHECK_SOURCE = `
const { EC2Client, paginateDescribeSecurityGroups, paginateDescribeVolumes } = require('@aws-sdk/client-ec2');
const { ElasticLoadBalancingV2Client, paginateDescribeLoadBalancers } = require('@aws-sdk/client-elastic-load-balancing-v2');

const ec2 = new EC2Client({});
const elbv2 = new ElasticLoadBalancingV2Client({});

async function leftovers(vpcId, expected, clusterName) {
  const found = [];
  for await (const page of paginateDescribeLoadBalancers({ client: elbv2 }, {})) {
    for (const lb of page.LoadBalancers ?? []) if (lb.VpcId === vpcId) found.push('load balancer ' + lb.LoadBalancerArn);
  }
  const inVpc = { Filters: [{ Name: 'vpc-id', Values: [vpcId] }] };
  for await (const page of paginateDescribeSecurityGroups({ client: ec2 }, inVpc)) {
    for (const group of page.SecurityGroups ?? []) {
      if (!expected.has(group.GroupId) && group.GroupName !== 'default') found.push('security group ' + group.GroupId + ' (' + group.GroupName + ')');
    }
  }
  const ofCluster = { Filters: [{ Name: 'tag:eks:eks-cluster-name', Values: [clusterName] }] };
  for await (const page of paginateDescribeVolumes({ client: ec2 }, ofCluster)) {
    for (const volume of page.Volumes ?? []) {
      if (!(volume.Attachments ?? []).some((attachment) => attachment.DeleteOnTermination)) found.push('volume ' + volume.VolumeId + ' (' + volume.State + ')');
    }
  }
  return found;
}

async function answer(event, status, reason) {
  const body = JSON.stringify({
    Status: status,
    Reason: reason.slice(0, 3000),
    PhysicalResourceId: 'kubernetes-teardown-check',
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: {},
  });
  await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' } });
}

exports.handler = async (event, context) => {
  if (event.RequestType !== 'Delete') return answer(event, 'SUCCESS', 'nothing to check until the stack is deleted');
  const { VpcId: vpcId, ClusterName: clusterName, ExpectedSecurityGroupIds: expected = [] } = event.ResourceProperties;
  let left = [];
  try {
    for (;;) {
      left = await leftovers(vpcId, new Set(expected), clusterName);
      console.log(JSON.stringify({ event: 'teardown-check', vpcId, clusterName, leftovers: left }));
      if (left.length === 0) return answer(event, 'SUCCESS', 'nothing Kubernetes made is left');
      if (context.getRemainingTimeInMillis() < 60000) break;
      await new Promise((resolve) => setTimeout(resolve, 20000));
    }
  } catch (error) {
    left = [...left, 'check failed: ' + error];
  }
  return answer(event, 'FAILED',
    'made by Kubernetes and still there (for a Service of type LoadBalancer, or a PersistentVolumeClaim): ' +
    'delete the object, then destroy again: ' + left.join('; '));
};
`;
