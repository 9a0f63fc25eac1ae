import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { applyComponent } from './kustomize-component';
import { topology } from './topology';

/** deploy/ at the repository root: the manifests `kubectl apply -k` and this CDK app both apply. */
export const DEPLOY_DIR = resolve(__dirname, '../../../deploy');

/** A Kubernetes object as parsed from YAML; fields past the header stay untyped until checked. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** A manifest file of deploy/ and the objects in it, in file order. */
export interface ManifestFile {
  readonly file: string;
  readonly objects: K8sObject[];
}

interface Kustomization {
  resources: string[];
  images?: { name: string }[];
}

/**
 * Reads deploy/kustomization.yaml and every file it lists, in its order, which is also the order
 * they can be created in (namespace first, workloads last), then applies the kustomize components
 * named (directories relative to `dir`) over them, as an overlay listing them would.
 */
export function loadDeployDir(dir: string = DEPLOY_DIR, components: readonly string[] = []): { files: ManifestFile[]; imageNames: string[] } {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const base = kustomization.resources.map((file) => ({ file, objects: parseManifest(join(dir, file)) }));
  const objects = components.reduce((current, component) => applyComponent(current, join(dir, component)), base.flatMap((file) => file.objects));
  return { files: intoFiles(base, objects), imageNames: (kustomization.images ?? []).map((image) => image.name) };
}

/** Cuts a list made from files' objects, one for one and in order, back into those files. */
function intoFiles(files: ManifestFile[], objects: K8sObject[]): ManifestFile[] {
  let next = 0;
  return files.map((file) => ({ file: file.file, objects: objects.slice(next, (next += file.objects.length)) }));
}

/** Parses a multi-document YAML file into objects, refusing anything that is not one. */
export function parseManifest(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return [];
    if (!isK8sObject(value)) throw new Error(`${path}: a document is not a Kubernetes object (apiVersion, kind, metadata.name)`);
    return [value];
  });
}

function isK8sObject(value: unknown): value is K8sObject {
  if (typeof value !== 'object' || value === null) return false;
  const { apiVersion, kind, metadata } = value as Record<string, unknown>;
  return (
    typeof apiVersion === 'string' &&
    typeof kind === 'string' &&
    typeof metadata === 'object' &&
    metadata !== null &&
    typeof (metadata as Record<string, unknown>).name === 'string'
  );
}

/** What differs between clusters; everything else in deploy/ is applied as written. */
export interface Substitutions {
  /** Image URI for each image name of the kustomization's `images` list. */
  readonly images: Record<string, string>;
  /** `host:port` of the Redis-compatible store, for the `statestore` component's redisHost. */
  readonly redisHost: string;
  /** Source CIDRs for every Service of type LoadBalancer. */
  readonly loadBalancerSourceRanges: string[];
  /** An ACM certificate ARN: every Service of type LoadBalancer then listens with TLS on 443 instead. */
  readonly loadBalancerCertificateArn?: string;
  /** Replicas by Deployment name; Deployments not named keep theirs. */
  readonly replicas?: Record<string, number>;
  /** Where the state store's redisPassword comes from instead of deploy/'s Kubernetes Secret. */
  readonly cachePassword?: SecretReference;
  /**
   * What the NetworkPolicies' `0.0.0.0/0` blocks become: the load balancer's subnets (the allow
   * into order-store's app port) and the cache's (the allow out to 6379/6380).
   */
  readonly networkPolicyCidrs?: { readonly loadBalancer: string[]; readonly cache: string[] };
  /** The control plane's Dapr version, which every Dapr-enabled Deployment's pod template then carries. */
  readonly daprVersion?: string;
}

/**
 * The pod-template annotation that carries the control plane's Dapr version. The sidecar injector
 * gives a Pod the daprd of its own version only when the Pod is created
 * (https://docs.dapr.io/operations/hosting/kubernetes/kubernetes-upgrade/ restarts the apps
 * after the control plane), so a version bump must change the template for the Deployment to
 * roll its Pods onto the new sidecar.
 */
export const DAPR_VERSION_ANNOTATION = 'orders.example/dapr-version';

interface PolicyPeer {
  ipBlock?: { cidr: string };
}
interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: { port?: number | string }[];
}

/** The cache's ports, as the allow out to the cache names them (network-policies.yaml). */
const CACHE_PORT = 6379;

/**
 * Narrows each NetworkPolicy rule open to `0.0.0.0/0`: on the cache's port, to the cache's CIDRs;
 * on order-store's app port, to the load balancer's. Returns how many rules it narrowed, by kind.
 */
function narrowPolicyCidrs(object: K8sObject, cidrs: { loadBalancer: string[]; cache: string[] }, narrowed: Set<string>): void {
  const spec = object.spec as { ingress?: PolicyRule[]; egress?: PolicyRule[] };
  for (const rule of [...(spec.ingress ?? []), ...(spec.egress ?? [])]) {
    const peers = rule.from ?? rule.to ?? [];
    const open = peers.findIndex((peer) => peer.ipBlock?.cidr === '0.0.0.0/0');
    if (open < 0) continue;
    const ports = (rule.ports ?? []).map((p) => Number(p.port));
    const kind = ports.includes(CACHE_PORT) ? 'cache' : ports.includes(topology.orderStore.port) ? 'loadBalancer' : undefined;
    if (!kind) throw new Error(`NetworkPolicy ${object.metadata.name}: a rule open to 0.0.0.0/0 on ports ${ports.join(', ')} is neither the cache's nor order-store's`);
    peers.splice(open, 1, ...cidrs[kind].map((cidr) => ({ ipBlock: { cidr } })));
    narrowed.add(kind);
  }
}

/** A value in a Dapr secret store: the store's component name, the secret's name and its key. */
export interface SecretReference {
  readonly secretStore: string;
  readonly name: string;
  readonly key: string;
}

interface ComponentItem {
  name: string;
  value?: string;
  secretKeyRef?: { name: string; key: string };
}

/** The cache user deploy/'s state store signs in as (redisUsername), and where its password comes from (redisPassword). */
export function cacheCredentialsOf(objects: K8sObject[], stateStoreName: string): { username: string; password: { name: string; key: string } } {
  const component = objects.find((object) => object.kind === 'Component' && object.metadata.name === stateStoreName);
  const items = (component?.spec as { metadata?: ComponentItem[] } | undefined)?.metadata ?? [];
  const username = items.find((item) => item.name === 'redisUsername')?.value;
  const password = items.find((item) => item.name === 'redisPassword')?.secretKeyRef;
  if (!username || !password) throw new Error(`deploy/ has no Component ${stateStoreName} with a redisUsername and a redisPassword secretKeyRef`);
  return { username, password };
}

interface Container {
  name: string;
  image?: string;
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
}
interface PodTemplate {
  metadata?: { annotations?: Record<string, string> };
  spec: { containers: Container[]; serviceAccountName?: string };
}
interface WorkloadSpec {
  replicas?: number;
  template: PodTemplate;
}

/**
 * Returns copies of the objects with the substitutions made. Each one must find its target: a
 * renamed component or image name fails the synth instead of deploying a placeholder.
 */
export function substitute(objects: K8sObject[], subs: Substitutions, stateStoreName: string): K8sObject[] {
  const copies = objects.map((object) => structuredClone(object));
  const unusedImages = new Set(Object.keys(subs.images));
  let redisHostSet = false;
  const narrowed = new Set<string>();

  for (const object of copies) {
    if (object.kind === 'Deployment') {
      const spec = object.spec as WorkloadSpec;
      for (const container of spec.template.spec.containers) {
        const name = container.image?.split(':')[0];
        const uri = name === undefined ? undefined : subs.images[name];
        if (name !== undefined && uri !== undefined) {
          container.image = uri;
          unusedImages.delete(name);
        }
      }
      const replicas = subs.replicas?.[object.metadata.name];
      if (replicas !== undefined) spec.replicas = replicas;
      const annotations = spec.template.metadata?.annotations;
      if (subs.daprVersion !== undefined && annotations?.['dapr.io/enabled'] === 'true') {
        annotations[DAPR_VERSION_ANNOTATION] = subs.daprVersion;
      }
    }
    if (object.kind === 'Component' && object.metadata.name === stateStoreName) {
      const spec = object.spec as { metadata: ComponentItem[] };
      const host = spec.metadata.find((item) => item.name === 'redisHost');
      if (host) {
        host.value = subs.redisHost;
        redisHostSet = true;
      }
      if (subs.cachePassword) {
        const password = spec.metadata.find((item) => item.name === 'redisPassword');
        if (!password?.secretKeyRef) throw new Error(`deploy/'s Component ${stateStoreName} has no redisPassword secretKeyRef to point at ${subs.cachePassword.name}`);
        password.secretKeyRef = { name: subs.cachePassword.name, key: subs.cachePassword.key };
        // A component's secretKeyRefs are read from the store its auth.secretStore names (Dapr's
        // component schema); without it, from Kubernetes Secrets.
        (object as K8sObject & { auth?: { secretStore: string } }).auth = { secretStore: subs.cachePassword.secretStore };
      }
    }
    if (object.kind === 'NetworkPolicy' && subs.networkPolicyCidrs) narrowPolicyCidrs(object, subs.networkPolicyCidrs, narrowed);
    if (object.kind === 'Service' && (object.spec as { type?: string }).type === 'LoadBalancer') {
      (object.spec as { loadBalancerSourceRanges?: string[] }).loadBalancerSourceRanges = [...subs.loadBalancerSourceRanges];
      if (subs.loadBalancerCertificateArn) terminateTls(object, subs.loadBalancerCertificateArn);
    }
  }

  if (unusedImages.size > 0) throw new Error(`no container in deploy/ uses image(s) ${[...unusedImages].join(', ')}`);
  if (!redisHostSet) throw new Error(`deploy/ has no Component ${stateStoreName} with a redisHost to point at the cache`);
  if (subs.networkPolicyCidrs && narrowed.size !== 2) throw new Error(`deploy/'s NetworkPolicies have no rule open to 0.0.0.0/0 for ${['loadBalancer', 'cache'].filter((k) => !narrowed.has(k)).join(' and ')}`);
  return copies;
}

/** The port clients reach the load balancer on: HTTPS with a certificate, else HTTP. */
export const LOAD_BALANCER_PORT = { tls: 443, plain: 80 } as const;

/**
 * Makes a LoadBalancer Service's NLB listen with TLS on 443, with the ACM certificate, forwarding
 * plain TCP to the Pods' port as before, through the annotations EKS Auto Mode supports for TLS
 * termination (https://docs.aws.amazon.com/eks/latest/userguide/auto-configure-nlb.html):
 * aws-load-balancer-ssl-cert and aws-load-balancer-ssl-ports. Its one port becomes 443.
 */
function terminateTls(service: K8sObject, certificateArn: string): void {
  const spec = service.spec as { ports: { name?: string; port: number; targetPort?: string | number; protocol?: string }[] };
  if (spec.ports.length !== 1) throw new Error(`Service ${service.metadata.name}: TLS needs exactly one port to put on ${LOAD_BALANCER_PORT.tls}`);
  const [port] = spec.ports as [(typeof spec.ports)[number]];
  spec.ports = [{ ...port, name: 'https', port: LOAD_BALANCER_PORT.tls }];
  service.metadata.annotations = {
    ...service.metadata.annotations,
    'service.beta.kubernetes.io/aws-load-balancer-ssl-cert': certificateArn,
    'service.beta.kubernetes.io/aws-load-balancer-ssl-ports': String(LOAD_BALANCER_PORT.tls),
  };
}

/** One deployment of the orders system: what OrdersApp substitutes into deploy/. */
export interface OrdersDeployment {
  /** Image URI by app id (each app id is an image name of the kustomization). */
  readonly images: Record<string, string>;
  /** `host:port` of the cache, for the statestore component. */
  readonly cacheEndpoint: string;
  /** Source CIDRs the load balancer admits. @default ['0.0.0.0/0'] */
  readonly allowedClientCidrs?: string[];
  /** An ACM certificate: the load balancer listens with TLS on 443. @default plain HTTP on 80 */
  readonly certificateArn?: string;
  /** Where the cache password comes from. @default deploy/'s Kubernetes Secret */
  readonly cachePassword?: SecretReference;
  /** The load balancer's and the cache's subnet CIDRs, for the NetworkPolicies. @default 0.0.0.0/0 as deploy/ has it */
  readonly networkPolicyCidrs?: { readonly loadBalancer: string[]; readonly cache: string[] };
  /** @default 2 */
  readonly orderStoreReplicas?: number;
  /** @default 1 */
  readonly orderGeneratorReplicas?: number;
  /** The control plane's Dapr version. @default topology.daprVersion */
  readonly daprVersion?: string;
  /** deploy/'s kustomize components to apply over it, relative to deploy/. @default none */
  readonly components?: readonly string[];
}

/**
 * deploy/'s files with one deployment's values substituted, in kustomization order: what the CDK
 * app applies, and what the control-plane tests apply with `kubectl apply -k` to a real API server.
 */
export function ordersManifests(deployment: OrdersDeployment, dir: string = DEPLOY_DIR): ManifestFile[] {
  const { files, imageNames } = loadDeployDir(dir, deployment.components);
  for (const name of Object.keys(deployment.images)) {
    if (!imageNames.includes(name)) throw new Error(`deploy/kustomization.yaml lists no image named ${name}`);
  }
  const objects = substitute(
    files.flatMap((file) => file.objects),
    {
      images: deployment.images,
      redisHost: deployment.cacheEndpoint,
      loadBalancerSourceRanges: deployment.allowedClientCidrs ?? ['0.0.0.0/0'],
      ...(deployment.certificateArn ? { loadBalancerCertificateArn: deployment.certificateArn } : {}),
      ...(deployment.cachePassword ? { cachePassword: deployment.cachePassword } : {}),
      ...(deployment.networkPolicyCidrs ? { networkPolicyCidrs: deployment.networkPolicyCidrs } : {}),
      daprVersion: deployment.daprVersion ?? topology.daprVersion,
      replicas: {
        [topology.orderStore.appId]: deployment.orderStoreReplicas ?? 2,
        [topology.orderGenerator.appId]: deployment.orderGeneratorReplicas ?? 1,
      },
    },
    topology.stateStore,
  );
  // substitute keeps every object in its place.
  return intoFiles(files, objects);
}

/** The pod template of a Deployment, for reading its annotations and containers. */
export function podTemplateOf(objects: K8sObject[], deployment: string): PodTemplate {
  const found = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === deployment);
  if (!found) throw new Error(`deploy/ has no Deployment ${deployment}`);
  return (found.spec as WorkloadSpec).template;
}

/**
 * The Secrets order-store's pods read their tokens from, as deploy/ names them: Dapr's app API
 * token (the `dapr.io/app-token-secret` annotation) and, when an env var reads it, the write token.
 */
export function tokenSecretsOf(objects: K8sObject[], deployment: string): { appApiToken: string; writeToken?: string } {
  const template = podTemplateOf(objects, deployment);
  const appApiToken = template.metadata?.annotations?.['dapr.io/app-token-secret'];
  if (!appApiToken) throw new Error(`Deployment ${deployment} has no dapr.io/app-token-secret annotation`);
  const writeToken = template.spec.containers
    .flatMap((container) => container.env ?? [])
    .find((env) => env.name === 'WRITE_TOKEN')?.valueFrom?.secretKeyRef?.name;
  return writeToken ? { appApiToken, writeToken } : { appApiToken };
}
