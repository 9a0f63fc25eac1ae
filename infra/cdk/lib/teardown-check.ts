import { CustomResource, Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { join } from 'node:path';

/** The handler's source, which aws-lambda-nodejs bundles with esbuild at synth. */
export const HANDLER_ENTRY = join(__dirname, 'teardown-check', 'handler.ts');

/** The AWS API calls the handler makes, all of them Describe calls. */
export const CHECK_ACTIONS = [
  'elasticloadbalancing:DescribeLoadBalancers',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeInstances',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeVolumes',
] as const;

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
 * it but the stack's own (and the VPC's default), no EC2 instance of the cluster's Auto Mode nodes
 * and no network interface of their Pods, and no EBS volume of the cluster's but the nodes' own.
 * Auto Mode tags each of them with `eks:eks-cluster-name` (handler.ts, CLUSTER_TAG, cites the
 * cluster role's managed policies that require it); a node's root and data volumes are the ones
 * attached with DeleteOnTermination, and go with the node.
 *
 * The nodes: once the stack's workloads are deleted no Pod is left to keep a node, and Auto Mode
 * consolidates and terminates empty nodes (https://docs.aws.amazon.com/eks/latest/userguide/auto-cost-control.html).
 * The check waits for that before CloudFormation deletes the cluster, as EKS's own test tooling
 * does before it calls DeleteCluster (aws/aws-k8s-tester PR #541, `deleteNodes` then
 * `waitForNodeDeletion` in internal/deployers/eksapi/node.go): deleted with nodes still running,
 * the cluster leaves its security group behind on their network interfaces, and the VPC cannot
 * be deleted.
 *
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
  /** The function, bundled from HANDLER_ENTRY. */
  readonly handler: nodejs.NodejsFunction;

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
        actions: [...CHECK_ACTIONS],
        resources: ['*'],
      }),
    );
    this.handler = new nodejs.NodejsFunction(this, 'Handler', {
      entry: HANDLER_ENTRY,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      timeout: Duration.minutes(15),
      role,
      logGroup,
      description: 'On stack delete: waits until no load balancer, Kubernetes-made security group, Auto Mode node or persistent volume is left',
      // esbuild from the repository's own dependencies, never Docker: aws-lambda-nodejs runs a local
      // esbuild when one is installed (bundling.js, PackageInstallation.detect('esbuild')).
      depsLockFilePath: join(__dirname, '../../../package-lock.json'),
      bundling: {
        // Bundled, not taken from the runtime: Lambda's Node.js runtimes carry an SDK v3 of Lambda's
        // choosing, updated without notice (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html),
        // while bundled the function runs the clients its unit tests ran (test/teardown-check.test.ts).
        externalModules: [],
        minify: true,
        target: 'node24',
      },
    });
    const stack = Stack.of(this);
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.handler.functionArn,
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
