import { resolve } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { CfnPodIdentityAssociation } from 'aws-cdk-lib/aws-eks';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct, type IDependable } from 'constructs';
import { type K8sObject, ordersManifests, podTemplateOf, tokenSecretsOf } from './manifests';
import { topology } from './topology';

/** The repository root: the build context of the apps' Dockerfile. */
const REPO_ROOT = resolve(__dirname, '../../..');

/** An image the user built and pushed, instead of the one built from the Dockerfile on deploy. */
export interface AppImage {
  readonly uri: string;
}

export interface OrdersAppProps {
  /** The cluster to deploy into; it must run Dapr (see dependsOn). */
  readonly cluster: eks.Cluster;
  /** The cache's `host:port`, for the statestore component. */
  readonly cacheEndpoint: string;
  /**
   * What must exist before the manifests are applied and still exist until they are deleted:
   * the Dapr control plane (its CRDs and sidecar injector) and the network the load balancer
   * lives in. See the comment where the dependencies are added.
   */
  readonly dependsOn: IDependable[];
  /**
   * order-store's image.
   * @default built from the Dockerfile with APP=order-store
   */
  readonly orderStoreImage?: AppImage;
  /**
   * order-generator's image.
   * @default built from the Dockerfile with APP=order-generator
   */
  readonly orderGeneratorImage?: AppImage;
  /**
   * Source CIDRs the load balancer admits.
   * @default ['0.0.0.0/0']
   */
  readonly allowedClientCidrs?: string[];
  /**
   * An ACM certificate ARN: the load balancer listens with TLS on 443.
   * @default plain HTTP on 80
   */
  readonly certificateArn?: string;
  /**
   * The cache password's Secrets Manager secret: order-store's sidecar reads it through Dapr's
   * AWS Secrets Manager secret store, with order-store's EKS Pod Identity.
   * @default deploy/'s Kubernetes Secret, which someone else creates
   */
  readonly cachePasswordSecret?: secretsmanager.ISecret;
  /**
   * The load balancer's and the cache's subnet CIDRs, which deploy/'s NetworkPolicies admit.
   * @default 0.0.0.0/0, as deploy/ has it
   */
  readonly networkPolicyCidrs?: { readonly loadBalancer: string[]; readonly cache: string[] };
  /** What must exist before the workloads, and so their NetworkPolicies, apply: the policy enforcement. */
  readonly workloadsDependOn?: IDependable[];
  /**
   * order-store replicas.
   * @default 2
   */
  readonly orderStoreReplicas?: number;
  /**
   * order-generator replicas.
   * @default 1
   */
  readonly orderGeneratorReplicas?: number;
  /**
   * The Dapr version of the control plane the apps run on: a change rolls their Pods onto its sidecar.
   * @default topology.daprVersion
   */
  readonly daprVersion?: string;
  /**
   * Generate the write token, so writes through the load balancer need `Authorization: Bearer`.
   * Dapr's app API token is generated either way.
   * @default true
   */
  readonly writeToken?: boolean;
  /**
   * Directory of the manifests.
   * @default deploy/ at the repository root
   */
  readonly deployDir?: string;
  /**
   * Kustomize components of the manifests' directory to apply over them (paths relative to it),
   * e.g. the tracing export to the collector the stack runs.
   * @default none
   */
  readonly components?: readonly string[];
}

/**
 * The orders system on the cluster: deploy/'s manifests with this deployment's images, cache
 * endpoint, client CIDRs and replicas substituted, plus the generated token Secrets.
 */
export class OrdersApp extends Construct {
  /** Every object applied, after substitution, in apply order. */
  readonly objects: K8sObject[];
  /** The order-store load balancer's DNS name, once Kubernetes has one for the Service. */
  readonly loadBalancerHostname: string;
  /** Secret names holding the tokens. */
  readonly tokenSecrets: { appApiToken: string; writeToken?: string };
  /** The `orders` namespace: what else goes into it (the collector) waits for it. */
  readonly namespace: eks.KubernetesManifest;
  /** The Deployments and Services: what they send to (the collector) must exist first. */
  readonly workloads: eks.KubernetesManifest;
  /** order-store's Pod Identity role: it may read the cache password, and nothing else. */
  readonly orderStoreRole?: iam.Role;
  private readonly cluster: eks.Cluster;

  constructor(scope: Construct, id: string, props: OrdersAppProps) {
    super(scope, id);
    const { cluster } = props;
    this.cluster = cluster;
    const images: Record<string, string> = {};
    for (const [name, image] of [
      [topology.orderStore.appId, props.orderStoreImage],
      [topology.orderGenerator.appId, props.orderGeneratorImage],
    ] as const) {
      images[name] = image?.uri ?? this.builtImageUri(name);
    }

    const passwordSecret = props.cachePasswordSecret;
    this.objects = ordersManifests(
      {
        images,
        cacheEndpoint: props.cacheEndpoint,
        // Dapr's AWS Secrets Manager store answers a secret's name (or ARN) with a map of that
        // one key to its string (components-contrib secretstores/aws/secretmanager, GetSecret).
        ...(props.networkPolicyCidrs ? { networkPolicyCidrs: props.networkPolicyCidrs } : {}),
        ...(passwordSecret
          ? { cachePassword: { secretStore: CACHE_SECRET_STORE, name: passwordSecret.secretArn, key: passwordSecret.secretArn } }
          : {}),
        allowedClientCidrs: props.allowedClientCidrs,
        ...(props.certificateArn ? { certificateArn: props.certificateArn } : {}),
        orderStoreReplicas: props.orderStoreReplicas,
        orderGeneratorReplicas: props.orderGeneratorReplicas,
        ...(props.daprVersion ? { daprVersion: props.daprVersion } : {}),
        components: props.components,
      },
      props.deployDir,
    ).flatMap((file) => file.objects);
    if (passwordSecret) {
      this.objects.push(awsSecretStore(Stack.of(this).region));
      this.orderStoreRole = this.podIdentity(topology.orderStore.appId, passwordSecret);
    }
    const byKind = (kinds: string[]) => this.objects.filter((object) => kinds.includes(object.kind));

    // Four steps, each waiting for the one before, because each needs what the one before makes:
    const namespace = this.manifest('Namespace', byKind(['Namespace']));
    this.namespace = namespace;
    const secrets = tokenSecretsOf(this.objects, topology.orderStore.appId);
    this.tokenSecrets = props.writeToken === false ? { appApiToken: secrets.appApiToken } : secrets;
    const tokens = new eks.HelmChart(this, 'Tokens', {
      cluster,
      chartAsset: new Asset(this, 'TokensChart', { path: resolve(__dirname, '../charts/order-store-tokens') }),
      release: 'order-store-tokens',
      namespace: topology.namespace,
      createNamespace: false,
      values: { secrets: Object.values(this.tokenSecrets) },
    });
    tokens.node.addDependency(namespace);
    // The Dapr resources before any sidecar starts: a sidecar whose configuration is missing fails.
    const dapr = this.manifest('DaprResources', byKind(['Component', 'Configuration', 'Resiliency']));
    dapr.node.addDependency(namespace);
    const workloads = this.manifest(
      'Workloads',
      this.objects.filter((object) => !['Namespace', 'Component', 'Configuration', 'Resiliency'].includes(object.kind)),
    );
    // Pods read their tokens at start, and their sidecars the Dapr resources; Pods get Pod
    // Identity credentials only if the association exists when they start.
    workloads.node.addDependency(dapr, tokens);
    if (this.podIdentityAssociation) workloads.node.addDependency(this.podIdentityAssociation);
    for (const dependency of props.workloadsDependOn ?? []) workloads.node.addDependency(dependency);
    this.workloads = workloads;

    // Deletion order, the reverse of creation in CloudFormation, is what keeps `cdk destroy`
    // clean. The Service of type LoadBalancer in `workloads` makes EKS Auto Mode create an NLB,
    // its target group, listener and security groups, and rules in the cluster security group,
    // none of which CloudFormation knows about. They go away only when the Service does: deleting
    // the manifest runs `kubectl delete`, which waits for the Service's finalizer (--wait defaults
    // to true), which is removed once the NLB and the rest are deleted. The kubectl handler only
    // logs a delete that fails (kubectl-handler/apply/__init__.py, aws-cdk-lib 2.276.0), so the
    // teardown check (teardown-check.ts), among props.dependsOn, is deleted after this manifest
    // and confirms that they are gone before anything below it. So the Service must be deleted
    //   - before the Dapr control plane (uninstalling it while sidecars run is harmless, but
    //     Dapr's CRDs must still exist for `kubectl delete` of the Dapr resources to succeed),
    //   - before the cluster (with the cluster gone, nothing would delete the NLB), and
    //   - before any part of the VPC: the NLB holds ENIs and public addresses in the public
    //     subnets, and the internet gateway cannot be detached while they are mapped.
    // The cluster depends on the private subnets only; depending on the whole network here is
    // what holds the internet gateway, the public subnets and their routes until the NLB is gone.
    for (const dependency of props.dependsOn) {
      namespace.node.addDependency(dependency);
      workloads.node.addDependency(dependency);
    }

    const service = this.objects.find(
      (object) => object.kind === 'Service' && (object.spec as { type?: string }).type === 'LoadBalancer',
    );
    if (!service) throw new Error('deploy/ has no Service of type LoadBalancer');
    const address = new eks.KubernetesObjectValue(this, 'LoadBalancerAddress', {
      cluster,
      objectType: 'service',
      objectName: service.metadata.name,
      objectNamespace: service.metadata.namespace ?? topology.namespace,
      jsonPath: '.status.loadBalancer.ingress[0].hostname',
    });
    address.node.addDependency(workloads);
    this.loadBalancerHostname = address.value;
  }

  /**
   * An EKS Pod Identity role for an app's service account that may read one secret. The webhook
   * that gives a Pod its Pod Identity credentials adds them to every container of the Pod
   * (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html), daprd included,
   * whose AWS SDK takes them through its default credential chain
   * (https://docs.dapr.io/developing-applications/integrations/aws/authenticating-aws/).
   */
  private podIdentity(app: string, secret: secretsmanager.ISecret): iam.Role {
    const principal = new iam.ServicePrincipal('pods.eks.amazonaws.com');
    const role = new iam.Role(this, 'OrderStoreRole', { assumedBy: principal, description: `${app} in EKS: its sidecar reads the cache password` });
    role.assumeRolePolicy?.addStatements(new iam.PolicyStatement({ actions: ['sts:TagSession'], principals: [principal] }));
    secret.grantRead(role);
    const serviceAccount = podTemplateOf(this.objects, app).spec.serviceAccountName;
    if (!serviceAccount) throw new Error(`Deployment ${app} names no serviceAccountName for its Pod Identity`);
    this.podIdentityAssociation = new CfnPodIdentityAssociation(this, 'OrderStorePodIdentity', {
      clusterName: this.cluster.clusterName,
      namespace: topology.namespace,
      serviceAccount,
      roleArn: role.roleArn,
    });
    return role;
  }

  private podIdentityAssociation?: CfnPodIdentityAssociation;

  private manifest(id: string, objects: K8sObject[]): eks.KubernetesManifest {
    if (objects.length === 0) throw new Error(`deploy/ has nothing for the ${id} step`);
    // overwrite: a retried deploy applies over objects a failed one left, instead of failing on them.
    return new eks.KubernetesManifest(this, id, { cluster: this.cluster, manifest: objects, overwrite: true });
  }

  /** The app's image, built from the Dockerfile on deploy; its APP build argument picks the app. */
  private builtImageUri(app: string): string {
    return new DockerImageAsset(this, `${app}Image`, {
      directory: REPO_ROOT,
      file: 'Dockerfile',
      buildArgs: { APP: app },
      // Auto Mode's general-purpose nodes are x86_64; build for them even on an arm64 laptop.
      platform: Platform.LINUX_AMD64,
    }).imageUri;
  }
}

/** The Dapr secret store the cache password is read from on EKS. */
export const CACHE_SECRET_STORE = 'aws-secrets';

/**
 * Dapr's AWS Secrets Manager secret store (https://docs.dapr.io/reference/components-reference/supported-secret-stores/aws-secret-manager/),
 * with no keys: the sidecar's Pod Identity credentials. Only order-store's sidecar loads it.
 */
function awsSecretStore(region: string): K8sObject {
  return {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name: CACHE_SECRET_STORE, namespace: topology.namespace },
    spec: { type: 'secretstores.aws.secretmanager', version: 'v1', metadata: [{ name: 'region', value: region }] },
    scopes: [topology.orderStore.appId],
  };
}
