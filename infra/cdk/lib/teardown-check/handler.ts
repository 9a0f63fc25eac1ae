/**
 * The teardown check's Lambda handler (teardown-check.ts makes the function and bundles this file
 * with esbuild). On the stack's delete it waits until nothing Kubernetes made for the cluster is
 * left in the account, and answers CloudFormation itself with the response object of
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html.
 */
import {
  EC2Client,
  type Filter,
  paginateDescribeInstances,
  paginateDescribeNetworkInterfaces,
  paginateDescribeSecurityGroups,
  paginateDescribeVolumes,
} from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client, paginateDescribeLoadBalancers } from '@aws-sdk/client-elastic-load-balancing-v2';

/** What the custom resource passes (teardown-check.ts), as CloudFormation sends it: strings. */
export interface TeardownCheckProperties {
  readonly VpcId: string;
  readonly ClusterName: string;
  readonly ExpectedSecurityGroupIds?: string[];
}

/** The fields of a custom resource request this handler reads
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html). */
export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly ResourceProperties: TeardownCheckProperties;
}

/** The part of Lambda's context object the handler uses. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

/**
 * The tag EKS Auto Mode puts on every EC2 resource it creates for a cluster: its cluster role's
 * managed policies allow ec2:RunInstances and ec2:CreateFleet (AmazonEKSComputePolicy),
 * ec2:CreateNetworkInterface (AmazonEKSNetworkingPolicy) and ec2:CreateVolume
 * (AmazonEKSBlockStoragePolicy) only with this request tag set to the cluster's name
 * (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEKSComputePolicy.html,
 * .../AmazonEKSNetworkingPolicy.html, .../AmazonEKSBlockStoragePolicy.html).
 */
export const CLUSTER_TAG = 'eks:eks-cluster-name';
/**
 * The tag AmazonEKSNetworkingPolicy requires, besides the cluster's, on every network interface
 * Auto Mode's CNI creates for a node's Pods. A node's primary interface goes with the instance;
 * these are the ones that can outlive it.
 */
export const CNI_NODE_TAG = 'eks:kubernetes-cni-node-name';
/** The instance states in which an instance still holds its network interfaces (terminated is gone). */
const LIVE_INSTANCE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

/** How long before the Lambda's own deadline the check stops waiting, to answer in time. */
const ANSWER_MARGIN_MS = 60_000;
/** How long it waits between two looks. */
const POLL_INTERVAL_MS = 20_000;
const PHYSICAL_RESOURCE_ID = 'kubernetes-teardown-check';

const ec2 = new EC2Client({});
const elbv2 = new ElasticLoadBalancingV2Client({});

/**
 * Everything Kubernetes (EKS Auto Mode) made for the cluster that is still there: load balancers
 * in the VPC, security groups in it that the stack does not own, the cluster's instances and the
 * Pod network interfaces of its nodes, and the cluster's volumes that are not an instance's own
 * (a node's root and data volumes are attached with DeleteOnTermination; a persistent volume's is
 * attached without it, or not at all once its Pod is gone).
 */
export async function leftovers(properties: TeardownCheckProperties): Promise<string[]> {
  const { VpcId: vpcId, ClusterName: clusterName } = properties;
  const expected = new Set(properties.ExpectedSecurityGroupIds ?? []);
  const found: string[] = [];
  for await (const page of paginateDescribeLoadBalancers({ client: elbv2 }, {})) {
    for (const lb of page.LoadBalancers ?? []) if (lb.VpcId === vpcId) found.push(`load balancer ${lb.LoadBalancerArn}`);
  }
  const inVpc: Filter = { Name: 'vpc-id', Values: [vpcId] };
  for await (const page of paginateDescribeSecurityGroups({ client: ec2 }, { Filters: [inVpc] })) {
    for (const group of page.SecurityGroups ?? []) {
      if (!expected.has(group.GroupId ?? '') && group.GroupName !== 'default') found.push(`security group ${group.GroupId} (${group.GroupName})`);
    }
  }
  const ofCluster: Filter = { Name: `tag:${CLUSTER_TAG}`, Values: [clusterName] };
  const liveInstances = { Filters: [ofCluster, { Name: 'instance-state-name', Values: LIVE_INSTANCE_STATES }] };
  for await (const page of paginateDescribeInstances({ client: ec2 }, liveInstances)) {
    for (const instance of (page.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])) {
      found.push(`instance ${instance.InstanceId} (${instance.State?.Name})`);
    }
  }
  const podInterfaces = { Filters: [ofCluster, { Name: 'tag-key', Values: [CNI_NODE_TAG] }] };
  for await (const page of paginateDescribeNetworkInterfaces({ client: ec2 }, podInterfaces)) {
    for (const eni of page.NetworkInterfaces ?? []) found.push(`network interface ${eni.NetworkInterfaceId} (${eni.Status})`);
  }
  for await (const page of paginateDescribeVolumes({ client: ec2 }, { Filters: [ofCluster] })) {
    for (const volume of page.Volumes ?? []) {
      if (!(volume.Attachments ?? []).some((attachment) => attachment.DeleteOnTermination)) found.push(`volume ${volume.VolumeId} (${volume.State})`);
    }
  }
  return found;
}

async function answer(event: CustomResourceEvent, status: 'SUCCESS' | 'FAILED', reason: string): Promise<void> {
  const body = JSON.stringify({
    Status: status,
    Reason: reason.slice(0, 3000),
    PhysicalResourceId: PHYSICAL_RESOURCE_ID,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: {},
  });
  // The response URL is a presigned S3 URL: it must be PUT with no content type.
  const response = await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' } });
  if (!response.ok) throw new Error(`CloudFormation's response URL answered ${response.status}`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function handler(event: CustomResourceEvent, context: LambdaContext): Promise<void> {
  if (event.RequestType !== 'Delete') return answer(event, 'SUCCESS', 'nothing to check until the stack is deleted');
  const properties = event.ResourceProperties;
  let left: string[] = [];
  try {
    for (;;) {
      left = await leftovers(properties);
      console.log(JSON.stringify({ event: 'teardown-check', vpcId: properties.VpcId, clusterName: properties.ClusterName, leftovers: left }));
      if (left.length === 0) return answer(event, 'SUCCESS', 'nothing Kubernetes made is left');
      if (context.getRemainingTimeInMillis() < ANSWER_MARGIN_MS + POLL_INTERVAL_MS) break;
      await sleep(POLL_INTERVAL_MS);
    }
  } catch (error) {
    left = [...left, `check failed: ${String(error)}`];
  }
  return answer(
    event,
    'FAILED',
    'made by Kubernetes and still there (for a Service of type LoadBalancer, a PersistentVolumeClaim, or a Pod that keeps a node up: ' +
      '`kubectl get svc,pvc,pods -A`): delete the object, then destroy again: ' +
      left.join('; '),
  );
}
