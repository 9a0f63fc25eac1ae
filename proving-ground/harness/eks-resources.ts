import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topology } from '@orders/common';
import { type K8sObject, parseManifest, type SecretReference, substitute } from '../../infra/cdk/lib/manifests';
import { repoRoot } from './daprd';
import type { RedisTlsCluster } from './redis-cluster';

export const DEPLOY_DIR = join(repoRoot, 'deploy');

// The harness runs daprd in namespace "default" (NAMESPACE=default; components/configuration.yaml's
// access control names it). daprd's disk loader skips every manifest whose metadata.namespace is
// not its own, so deploy/'s "orders" would leave the sidecar without a state store: the manifests
// move to the sidecar's namespace, as on EKS, where the component and the pod share "orders".
const LOCAL_NAMESPACE = 'default';

/**
 * deploy/<file>'s one object, moved to the local namespace and with the cache endpoint set as the
 * CDK app sets it, and the cache password read from `cachePassword` as the CDK app points it at
 * Secrets Manager.
 */
export function eksManifest(file: string, redisHost: string, cachePassword?: SecretReference): K8sObject {
  const objects = parseManifest(join(DEPLOY_DIR, file));
  const [object] =
    file === 'statestore.yaml'
      ? substitute(objects, { images: {}, redisHost, loadBalancerSourceRanges: [], ...(cachePassword ? { cachePassword } : {}) }, topology.stateStore)
      : objects;
  if (objects.length !== 1 || !object) throw new Error(`deploy/${file}: expected one object`);
  return { ...object, metadata: { ...object.metadata, namespace: LOCAL_NAMESPACE } };
}

/** A resources dir holding these objects; JSON is YAML, so daprd reads it as is. */
export function resourcesDir(objects: K8sObject[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'orders-eks-resources-'));
  for (const object of objects) writeFileSync(join(dir, `${object.kind.toLowerCase()}-${object.metadata.name}.yaml`), JSON.stringify(object, null, 2));
  return dir;
}

/** The local secret store the harness puts the stand-in's client password in: Dapr's local.file store, in place of Secrets Manager. */
const LOCAL_SECRET_STORE = 'local-secrets';
const CACHE_PASSWORD_SECRET = 'cache-password';

/**
 * What an order-store sidecar needs to use a local TLS Redis Cluster as EKS uses ElastiCache:
 * deploy/'s component and resiliency, and a secret store holding the cluster's client password
 * (`password` replaces it: a wrong one, to see it refused).
 */
export function eksStateStore(
  cluster: RedisTlsCluster,
  password = cluster.client.password,
): { component: K8sObject; secretStore: K8sObject; resourcesPath: string; daprEnv: NodeJS.ProcessEnv } {
  const secretsFile = join(mkdtempSync(join(tmpdir(), 'orders-secrets-')), 'secrets.json');
  writeFileSync(secretsFile, JSON.stringify({ [CACHE_PASSWORD_SECRET]: password }));
  const secretStore: K8sObject = {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name: LOCAL_SECRET_STORE, namespace: LOCAL_NAMESPACE },
    spec: { type: 'secretstores.local.file', version: 'v1', metadata: [{ name: 'secretsFile', value: secretsFile }] },
  };
  const component = eksManifest('statestore.yaml', cluster.address, { secretStore: LOCAL_SECRET_STORE, name: CACHE_PASSWORD_SECRET, key: CACHE_PASSWORD_SECRET });
  return {
    component,
    secretStore,
    resourcesPath: resourcesDir([secretStore, component, eksManifest('resiliency.yaml', cluster.address)]),
    // components-contrib's Redis client (common/component/redis, v9client.go) sets
    // tls.Config{InsecureSkipVerify: insecureSkipTLSVerify}, false unless the component says
    // otherwise (deploy/ does not), and no RootCAs: the cache's certificate is verified against
    // the system's roots. ElastiCache's certificate is publicly trusted; ours is trusted the same
    // way, by making our CA daprd's system roots (Go reads SSL_CERT_FILE). daprd needs no other
    // public root here: its Sentry's anchors come from DAPR_TRUST_ANCHORS.
    daprEnv: { SSL_CERT_FILE: cluster.caPath },
  };
}
