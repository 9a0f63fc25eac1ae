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
  /** Replicas by Deployment name; Deployments not named keep theirs. */
  readonly replicas?: Record<string, number>;
}

interface Container {
  name: string;
  image?: string;
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
}
interface PodTemplate {
  metadata?: { annotations?: Record<string, string> };
  spec: { containers: Container[] };
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
    }
    if (object.kind === 'Component' && object.metadata.name === stateStoreName) {
      const spec = object.spec as { metadata: { name: string; value?: string }[] };
      const host = spec.metadata.find((item) => item.name === 'redisHost');
      if (host) {
        host.value = subs.redisHost;
        redisHostSet = true;
      }
    }
    if (object.kind === 'Service' && (object.spec as { type?: string }).type === 'LoadBalancer') {
      (object.spec as { loadBalancerSourceRanges?: string[] }).loadBalancerSourceRanges = [...subs.loadBalancerSourceRanges];
    }
  }

  if (unusedImages.size > 0) throw new Error(`no container in deploy/ uses image(s) ${[...unusedImages].join(', ')}`);
  if (!redisHostSet) throw new Error(`deploy/ has no Component ${stateStoreName} with a redisHost to point at the cache`);
  return copies;
}

/** One deployment of the orders system: what OrdersApp substitutes into deploy/. */
export interface OrdersDeployment {
  /** Image URI by app id (each app id is an image name of the kustomization). */
  readonly images: Record<string, string>;
  /** `host:port` of the cache, for the statestore component. */
  readonly cacheEndpoint: string;
  /** Source CIDRs the load balancer admits. @default ['0.0.0.0/0'] */
  readonly allowedClientCidrs?: string[];
  /** @default 2 */
  readonly orderStoreReplicas?: number;
  /** @default 1 */
  readonly orderGeneratorReplicas?: number;
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
