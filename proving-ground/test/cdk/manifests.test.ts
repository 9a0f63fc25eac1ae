import { expect } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv, { type AnySchema } from 'ajv';
import * as apps from 'kubernetes-models/apps/v1';
import * as core from 'kubernetes-models/v1';
import * as policy from 'kubernetes-models/policy/v1';
import { parse, parseAllDocuments } from 'yaml';
import { DEPLOY_DIR, type K8sObject, loadDeployDir, parseManifest, substitute, tokenSecretsOf } from '../../../infra/cdk/lib/manifests';
import { topology } from '../../../infra/cdk/lib/topology';
import { daprChartDir, injectorAnnotationNames, unknownDaprAnnotations } from '../../harness/dapr-module';

const { files, imageNames } = loadDeployDir();
const objects = files.flatMap((file) => file.objects);
const find = (kind: string, name: string): K8sObject => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`deploy/ has no ${kind}/${name}`);
  return found;
};

describe('deploy/ is one kustomization', () => {
  test('listing every manifest in the folder, in an order that can be applied', () => {
    const yamlFiles = readdirSync(DEPLOY_DIR).filter((file) => /\.ya?ml$/.test(file) && file !== 'kustomization.yaml');
    expect(files.map((file) => file.file).sort()).toEqual(yamlFiles.sort());
    const firstOf = (kinds: string[]) => objects.findIndex((object) => kinds.includes(object.kind));
    expect(firstOf(['Namespace'])).toBe(0);
    expect(firstOf(['Component', 'Configuration', 'Resiliency'])).toBeLessThan(firstOf(['Deployment']));
  });

  test('everything lives in the topology namespace, and the image names are the app ids', () => {
    for (const object of objects.filter((o) => o.kind !== 'Namespace')) expect(object.metadata.namespace).toBe(topology.namespace);
    expect(find('Namespace', topology.namespace)).toBeDefined();
    expect(imageNames.sort()).toEqual([topology.orderGenerator.appId, topology.orderStore.appId].sort());
  });
});

// Kubernetes' own OpenAPI schemas, as kubernetes-models packages them: types, required fields,
// formats and enums of every built-in kind used here.
const builtIn: Record<string, (object: K8sObject) => { validate(): void }> = {
  'v1/Namespace': (o) => new core.Namespace(o),
  'v1/ServiceAccount': (o) => new core.ServiceAccount(o),
  'v1/Service': (o) => new core.Service(o),
  'apps/v1/Deployment': (o) => new apps.Deployment(o),
  'policy/v1/PodDisruptionBudget': (o) => new policy.PodDisruptionBudget(o),
};

describe('Kubernetes API schemas', () => {
  test.each(objects.filter((o) => !o.apiVersion.startsWith('dapr.io/')).map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))(
    '%s is valid',
    (_name, object) => {
      const model = builtIn[`${object.apiVersion}/${object.kind}`];
      expect(model).toBeDefined();
      expect(() => model?.(object).validate()).not.toThrow();
    },
  );

  test('the validator rejects a broken object', () => {
    const broken = structuredClone(find('Service', topology.orderStore.appId));
    (broken.spec as { ports: { port: unknown }[] }).ports[0]!.port = 'eighty';
    expect(() => new core.Service(broken as unknown as core.IService).validate()).toThrow(/port/);
  });
});

/** The Dapr CRDs of the pinned version, from the dapr/dapr Go module (dev/dapr-binaries.sh fetches it). */
let crdSchemas: Map<string, AnySchema> | undefined;
function daprCrdSchemas(): Map<string, AnySchema> {
  crdSchemas ??= readDaprCrdSchemas();
  return crdSchemas;
}

function readDaprCrdSchemas(): Map<string, AnySchema> {
  const crdDir = join(daprChartDir(), 'crds');
  const schemas = new Map<string, AnySchema>();
  for (const file of readdirSync(crdDir)) {
    for (const doc of parseAllDocuments(readFileSync(join(crdDir, file), 'utf8'))) {
      const crd = doc.toJS() as {
        spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Record<string, unknown> } }[] };
      } | null;
      if (!crd?.spec) continue;
      for (const version of crd.spec.versions) {
        schemas.set(`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`, strict(version.schema.openAPIV3Schema));
      }
    }
  }
  return schemas;
}

/**
 * The API server drops fields a structural schema does not declare, and `kubectl apply` reports
 * them as unknown: a misspelt field would silently do nothing. Closing every declared object makes
 * such a field fail validation here, except where the CRD preserves unknown fields. The object's
 * own metadata is the API server's to validate.
 */
function strict(schema: Record<string, unknown>): Record<string, unknown> {
  const out = closed(schema);
  (out.properties as Record<string, unknown>).metadata = { type: 'object' };
  return out;
}

function closed(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties' && typeof value === 'object' && value !== null) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, closed(sub as Record<string, unknown>)]));
    } else if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object' && value !== null) {
      out[key] = closed(value as Record<string, unknown>);
    } else {
      out[key] = value;
    }
  }
  if (schema.properties && schema.additionalProperties === undefined && !schema['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

describe('Dapr CRD schemas', () => {
  const schemas = daprCrdSchemas();
  const ajv = new Ajv({ allErrors: true, strict: false });
  const daprObjects = objects.filter((o) => o.apiVersion.startsWith('dapr.io/'));

  test('cover Component, Configuration and Resiliency', () => {
    expect(daprObjects.map((o) => o.kind).sort()).toEqual(['Component', 'Configuration', 'Resiliency']);
  });

  test.each(daprObjects.map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))('%s is valid', (_name, object) => {
    const schema = schemas.get(`${object.apiVersion}/${object.kind}`);
    expect(schema).toBeDefined();
    const validate = ajv.compile(schema as AnySchema);
    const valid = validate(object);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  test('the validator rejects a misspelt field', () => {
    const schema = schemas.get('dapr.io/v1alpha1/Configuration') as AnySchema;
    const broken = structuredClone(find('Configuration', topology.daprConfiguration));
    (broken.spec as Record<string, unknown>).accesControl = (broken.spec as Record<string, unknown>).accessControl;
    expect(ajv.validate(schema, broken)).toBe(false);
  });
});

describe('Dapr resources match the local ones and the topology', () => {
  const schemas = daprCrdSchemas();
  const local = (file: string) => parseManifest(resolve(__dirname, '../../../components', file))[0] as K8sObject;
  /** What Dapr's controllers see of a spec: the API server prunes what the CRD does not declare. */
  const asDaprReadsIt = (object: K8sObject) =>
    prune((schemas.get(`${object.apiVersion}/${object.kind}`) as { properties: { spec: unknown } }).properties.spec, object.spec);

  test('statestore: state.redis over TLS in cluster mode, scoped to order-store', () => {
    const component = find('Component', topology.stateStore);
    const spec = component.spec as { type: string; metadata: { name: string; value: string }[] };
    const value = (name: string) => spec.metadata.find((item) => item.name === name)?.value;
    expect(spec.type).toBe('state.redis');
    expect(value('enableTLS')).toBe('true');
    expect(value('redisType')).toBe('cluster');
    expect(component.scopes).toEqual([topology.orderStore.appId]);
    expect(component.scopes).toEqual(local('statestore.yaml').scopes);
  });

  test('the access control is the local one, in the cluster namespace', () => {
    type Spec = { accessControl: { policies: { namespace: string }[] } };
    const cluster = asDaprReadsIt(find('Configuration', topology.daprConfiguration)) as Spec;
    const mine = structuredClone(asDaprReadsIt(local('configuration.yaml')) as Spec);
    for (const policy of mine.accessControl.policies) policy.namespace = topology.namespace;
    expect(cluster.accessControl).toEqual(mine.accessControl);
    expect(cluster).toMatchObject({
      accessControl: {
        defaultAction: 'deny',
        policies: [{ appId: topology.orderGenerator.appId, operations: [{ name: `/${topology.newOrderMethod}`, httpVerb: ['POST'], action: 'allow' }] }],
      },
    });
  });

  test('the Resiliency spec is the local one', () => {
    expect(asDaprReadsIt(find('Resiliency', topology.resiliency))).toEqual(asDaprReadsIt(local('resiliency.yaml')));
  });
});

/** Drops what a structural schema does not declare, as the API server does. */
function prune(schema: unknown, value: unknown): unknown {
  const s = schema as { properties?: Record<string, unknown>; additionalProperties?: unknown; items?: unknown };
  if (Array.isArray(value)) return value.map((item) => prune(s.items ?? {}, item));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(value)) {
    const subSchema = s.properties?.[key] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    if (subSchema !== undefined) out[key] = prune(subSchema, sub);
    else if (!s.properties && s.additionalProperties === undefined) out[key] = sub;
  }
  return out;
}

describe('workloads are hardened', () => {
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  type Pod = {
    metadata: { annotations: Record<string, string> };
    spec: {
      securityContext: Record<string, unknown>;
      containers: {
        name: string;
        ports: { containerPort: number }[];
        securityContext: Record<string, unknown>;
        resources: { requests: Record<string, string>; limits: Record<string, string> };
        readinessProbe?: unknown;
        livenessProbe?: unknown;
      }[];
    };
  };
  const pod = (d: K8sObject) => (d.spec as { template: Pod }).template;

  test('both apps are deployed, on their topology ports', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([topology.orderGenerator.appId, topology.orderStore.appId].sort());
    for (const app of [topology.orderStore, topology.orderGenerator]) {
      const p = pod(find('Deployment', app.appId));
      expect(p.spec.containers[0]?.ports[0]?.containerPort).toBe(app.port);
      expect(p.metadata.annotations['dapr.io/app-port']).toBe(String(app.port));
      expect(p.metadata.annotations['dapr.io/app-id']).toBe(app.appId);
      expect(p.metadata.annotations['dapr.io/config']).toBe(topology.daprConfiguration);
    }
  });

  test.each(deployments.map((d) => [d.metadata.name, d] as const))('%s: non-root, read-only, no capabilities, RuntimeDefault seccomp, limits, probes', (_name, d) => {
    const p = pod(d);
    expect(p.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const container of p.spec.containers) {
      expect(container.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(Object.keys(container.resources.requests).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(container.resources.limits).sort()).toEqual(['cpu', 'memory']);
      expect(container.readinessProbe).toBeDefined();
      expect(container.livenessProbe).toBeDefined();
    }
    expect(p.metadata.annotations).toMatchObject({
      'dapr.io/enabled': 'true',
      'dapr.io/sidecar-listen-addresses': '127.0.0.1',
      'dapr.io/enable-app-health-check': 'true',
      'dapr.io/sidecar-memory-limit': expect.any(String),
      'dapr.io/sidecar-cpu-limit': expect.any(String),
      'dapr.io/graceful-shutdown-seconds': expect.any(String),
    });
  });

  test('every Dapr annotation is one the pinned sidecar injector reads; a misspelt one is caught', () => {
    // The injector ignores an annotation it does not know without a word: `dapr.io/app-prot` would
    // leave the sidecar with no app port. The names come from the injector's own source.
    const known = injectorAnnotationNames();
    for (const d of deployments) expect(unknownDaprAnnotations(pod(d).metadata.annotations, known)).toEqual([]);
    const misspelt = { ...pod(find('Deployment', topology.orderStore.appId)).metadata.annotations, 'dapr.io/app-prot': '3000' };
    expect(unknownDaprAnnotations(misspelt, known)).toEqual(['dapr.io/app-prot']);
  });

  test('order-store reads its tokens from Secrets: the write token optional, the app API token as the sidecar does', () => {
    const container = (find('Deployment', topology.orderStore.appId).spec as { template: { spec: { containers: { env: { name: string; valueFrom?: unknown }[] }[] } } })
      .template.spec.containers[0];
    const env = (name: string) => container?.env.find((e) => e.name === name)?.valueFrom;
    expect(env('WRITE_TOKEN')).toEqual({ secretKeyRef: { name: 'order-store-write-token', key: 'token', optional: true } });
    expect(env('APP_API_TOKEN')).toEqual({ secretKeyRef: { name: 'order-store-app-api-token', key: 'token' } });
    expect(tokenSecretsOf(objects, topology.orderStore.appId)).toEqual({
      appApiToken: 'order-store-app-api-token',
      writeToken: 'order-store-write-token',
    });
  });

  test('order-store keeps a replica through voluntary disruptions and is reachable only from allowed sources', () => {
    expect(find('PodDisruptionBudget', topology.orderStore.appId).spec).toMatchObject({
      maxUnavailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': topology.orderStore.appId } },
    });
    expect(find('Service', topology.orderStore.appId).spec).toMatchObject({ type: 'LoadBalancer', loadBalancerSourceRanges: expect.any(Array) });
  });
});

describe('substitute', () => {
  const subs = {
    images: { 'order-store': 'registry/store:1', 'order-generator': 'registry/gen:1' },
    redisHost: 'cache.example:6379',
    loadBalancerSourceRanges: ['192.0.2.0/24'],
    replicas: { 'order-store': 4 },
  };

  test('replaces images, the Redis host, source ranges and replicas, leaving deploy/ untouched', () => {
    const before = JSON.stringify(objects);
    const out = substitute(objects, subs, topology.stateStore);
    expect(JSON.stringify(objects)).toBe(before);
    const get = (kind: string, name: string) => out.find((o) => o.kind === kind && o.metadata.name === name) as K8sObject;
    const image = (name: string) => (get('Deployment', name).spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image;
    expect(image('order-store')).toBe('registry/store:1');
    expect(image('order-generator')).toBe('registry/gen:1');
    expect((get('Deployment', 'order-store').spec as { replicas: number }).replicas).toBe(4);
    expect((get('Deployment', 'order-generator').spec as { replicas: number }).replicas).toBe(1);
    expect((get('Service', 'order-store').spec as { loadBalancerSourceRanges: string[] }).loadBalancerSourceRanges).toEqual(['192.0.2.0/24']);
    const metadata = (get('Component', 'statestore').spec as { metadata: { name: string; value: string }[] }).metadata;
    expect(metadata.find((m) => m.name === 'redisHost')?.value).toBe('cache.example:6379');
  });

  test('refuses an image name no container uses, or a missing state store', () => {
    expect(() => substitute(objects, { ...subs, images: { ...subs.images, typo: 'x' } }, topology.stateStore)).toThrow(/typo/);
    expect(() => substitute(objects, subs, 'no-such-store')).toThrow(/no-such-store/);
  });
});

describe('the token chart', () => {
  const chartDir = resolve(__dirname, '../../../infra/cdk/charts/order-store-tokens');

  test('is a Helm v2 chart whose template generates a token per named Secret and keeps existing ones', () => {
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { apiVersion: string; name: string; version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'order-store-tokens' });
    const template = readFileSync(join(chartDir, 'templates', 'secrets.yaml'), 'utf8');
    expect(template).toMatch(/range \$name := \.Values\.secrets/);
    expect(template).toMatch(/lookup "v1" "Secret" \$\.Release\.Namespace \$name/);
    expect(template).toMatch(/randAlphaNum/);
  });
});
