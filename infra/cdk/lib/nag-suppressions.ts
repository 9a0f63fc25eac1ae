import { type Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
// cdk-nag's own spelling of a resource in a finding id (not exported from its index).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/** One acknowledged AwsSolutions finding: where, which rule (and finding), and why. */
export interface NagSuppression {
  /** Construct path below the stack, e.g. 'Cluster/Cluster/Role'. */
  readonly path: string;
  /** Rule ids as cdk-nag reports them, e.g. 'AwsSolutions-IAM4[Policy::...]'. */
  readonly ids: string[];
  readonly reason: string;
}

const managed = (name: string) => `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`;

const KUBECTL = 'Cluster/Cluster/KubectlProvider';

/**
 * Every AwsSolutions finding this stack accepts. All but one are on roles and functions that
 * aws-eks-v2 creates and owns, or on the policies EKS Auto Mode documents as required; the one
 * of the stack's own is the teardown check's Describe calls, which IAM can grant only on `*`.
 * Exported so tests can check each has a reason.
 */
export function nagSuppressions(stack: Stack): NagSuppression[] {
  return [
    {
      path: 'Cluster/Cluster/Role',
      ids: [
        'AmazonEKSClusterPolicy',
        'AmazonEKSComputePolicy',
        'AmazonEKSBlockStoragePolicy',
        'AmazonEKSLoadBalancingPolicy',
        'AmazonEKSNetworkingPolicy',
      ].map(managed),
      reason:
        'The cluster role of an EKS Auto Mode cluster needs exactly these AWS managed policies ' +
        '(EKS user guide, "Cluster IAM role"); AWS updates them as Auto Mode manages more resources.',
    },
    {
      path: 'Cluster/NodeRole',
      ids: ['AmazonEKSWorkerNodeMinimalPolicy', 'AmazonEC2ContainerRegistryPullOnly'].map(managed),
      reason:
        'The minimal node role EKS documents for Auto Mode nodes: join the cluster and pull images. ' +
        'A customer copy would drift from what Auto Mode needs.',
    },
    {
      path: `${KUBECTL}/Handler/ServiceRole`,
      ids: [
        managed('service-role/AWSLambdaBasicExecutionRole'),
        managed('service-role/AWSLambdaVPCAccessExecutionRole'),
        managed('AmazonEC2ContainerRegistryReadOnly'),
        'AwsSolutions-IAM4[Policy::{"Fn::If":["ClusterKubectlProviderHandlerHasEcrPublic6FE395CA",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]',
      ],
      reason:
        'The kubectl/helm handler aws-eks-v2 creates: logs, VPC access should it run in the VPC, and ' +
        'ECR read access for charts from OCI registries. The construct owns the role and its policies.',
    },
    {
      path: `${KUBECTL}/Handler/ServiceRole/DefaultPolicy`,
      ids: assetReadWildcards(stack, `${KUBECTL}/Handler/ServiceRole/DefaultPolicy`),
      reason:
        "HelmChart's grant to read the token chart from the CDK assets bucket: s3:GetObject*/List* on " +
        "the bootstrap bucket's objects, as Bucket.grantRead writes it.",
    },
    {
      path: `${KUBECTL}/Provider/framework-onEvent/ServiceRole`,
      ids: [managed('service-role/AWSLambdaBasicExecutionRole'), managed('service-role/AWSLambdaVPCAccessExecutionRole')],
      reason: "The custom resource provider framework's function that aws-eks-v2 creates: logs and optional VPC access.",
    },
    {
      path: `${KUBECTL}/Provider/framework-onEvent/ServiceRole/DefaultPolicy`,
      ids: ['AwsSolutions-IAM5[Resource::<ClusterKubectlProviderHandler93C0312D.Arn>:*]'],
      reason: 'The provider framework may invoke any version of the kubectl handler, and only that function.',
    },
    {
      path: `${KUBECTL}/Handler`,
      ids: ['AwsSolutions-L1'],
      reason:
        'aws-cdk-lib pins the kubectl handler runtime to the Python version its kubectl layer and ' +
        'handler code are built and tested for; it moves with aws-cdk-lib upgrades.',
    },
    {
      path: 'TeardownCheck/Role/DefaultPolicy',
      ids: ['AwsSolutions-IAM5[Resource::*]'],
      reason:
        'The teardown check only describes load balancers, security groups and volumes; ' +
        'elasticloadbalancing:DescribeLoadBalancers, ec2:DescribeSecurityGroups and ec2:DescribeVolumes ' +
        'support no resource-level permissions (Service Authorization Reference), so their resource is *.',
    },
  ];
}

/** Records every suppression on its construct, failing the synth if a path no longer exists. */
export function suppressNagFindings(stack: Stack): void {
  for (const { path, ids, reason } of nagSuppressions(stack)) {
    const target = find(stack, path);
    for (const id of ids) Validations.of(target).acknowledge({ id: `AwsSolutions::${id}`, reason });
  }
}

function find(stack: Stack, path: string): IConstruct {
  let node: IConstruct = stack;
  for (const id of path.split('/')) {
    const child = node.node.tryFindChild(id);
    if (!child) throw new Error(`cdk-nag suppression: no construct at ${stack.node.id}/${path}`);
    node = child;
  }
  return node;
}

/**
 * The IAM5 findings of the S3 read grant in a policy, spelt as cdk-nag spells them. The bucket's
 * name holds the account and region, so the ids are derived from the policy rather than written out.
 */
function assetReadWildcards(stack: Stack, path: string): string[] {
  const policy = find(stack, path) as iam.Policy;
  const document = stack.resolve(policy.document) as { Statement: { Action: string | string[]; Resource: unknown }[] };
  const ids: string[] = [];
  for (const statement of document.Statement) {
    const actions = [statement.Action].flat();
    if (!actions.every((action) => action.startsWith('s3:'))) continue;
    for (const action of actions) if (action.includes('*')) ids.push(`AwsSolutions-IAM5[Action::${action}]`);
    for (const resource of [statement.Resource].flat()) {
      const flat = flattenCfnReference(resource);
      if (flat.includes('*')) ids.push(`AwsSolutions-IAM5[Resource::${flat}]`);
    }
  }
  return ids;
}
