import { expect } from '@jest/globals';
import { loadDeployDir } from '../lib/manifests';
import { topology } from '../lib/topology';
import { flatten, logicalId, manifestsOf, type SynthObject, synth } from './helpers';

// deploy/network-policies.yaml as the CDK app applies it, evaluated the way Kubernetes reads
// NetworkPolicies (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
// a Pod selected by some policy of a type admits only what one of their rules allows.

const { template } = synth({ orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
const resources = template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[]; Properties: Record<string, unknown> }>;
const objects = [...manifestsOf(template).values()].flat();
const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as (SynthObject & { spec: PolicySpec })[];

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values: string[] }[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string };
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: { protocol?: string; port: number }[];
}
interface PolicySpec {
  podSelector: Selector;
  policyTypes: ('Ingress' | 'Egress')[];
  ingress?: Rule[];
  egress?: Rule[];
}

/** Where traffic comes from or goes to: a Pod in some namespace, or an address in a named range. */
type Endpoint = { pod: Record<string, string>; namespace: string } | { ip: string };

const selects = (selector: Selector | undefined, labels: Record<string, string>) =>
  Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
  (selector?.matchExpressions ?? []).every((e) => (e.operator === 'In' ? e.values.includes(labels[e.key] ?? '') : true));

function peerMatches(peer: Peer, endpoint: Endpoint): boolean {
  if ('ip' in endpoint) return peer.ipBlock !== undefined && (peer.ipBlock.cidr === '0.0.0.0/0' || peer.ipBlock.cidr === endpoint.ip);
  if (peer.ipBlock) return peer.ipBlock.cidr === '0.0.0.0/0';
  const namespaceMatches = peer.namespaceSelector ? selects(peer.namespaceSelector, { 'kubernetes.io/metadata.name': endpoint.namespace }) : endpoint.namespace === topology.namespace;
  return namespaceMatches && (peer.podSelector ? selects(peer.podSelector, endpoint.pod) : true);
}

/** Whether `direction` traffic of the `orders` Pod with these labels to or from `peer` on `port` is allowed. */
function allowed(direction: 'Ingress' | 'Egress', labels: Record<string, string>, peer: Endpoint, port: number): boolean {
  const applying = policies.filter((p) => p.spec.policyTypes.includes(direction) && selects(p.spec.podSelector, labels));
  if (applying.length === 0) return true;
  return applying.some((p) =>
    (direction === 'Ingress' ? p.spec.ingress : p.spec.egress)?.some(
      (rule) =>
        ((direction === 'Ingress' ? rule.from : rule.to) ?? [undefined]).some((candidate) => candidate === undefined || peerMatches(candidate, peer)) &&
        (rule.ports ?? [undefined]).some((p) => p === undefined || p.port === port),
    ),
  );
}

/** Traffic between two Pods of `orders`: both ends' policies must allow it. */
const podToPod = (from: Record<string, string>, to: Record<string, string>, port: number) =>
  allowed('Egress', from, { pod: to, namespace: topology.namespace }, port) && allowed('Ingress', to, { pod: from, namespace: topology.namespace }, port);

const app = (name: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'orders' });
const store = app(topology.orderStore.appId);
const generator = app(topology.orderGenerator.appId);
const collector = app('otel-collector');
const intruder = { 'app.kubernetes.io/name': 'intruder' };
const subnetCidrs = (kind: string) =>
  Object.entries(resources)
    .filter(([id, r]) => r.Type === 'AWS::EC2::Subnet' && id.startsWith(`NetworkVpc${kind}Subnet`))
    .map(([, r]) => r.Properties.CidrBlock as string);
const publicSubnets = subnetCidrs('public');
const privateSubnets = subnetCidrs('private');
const DAPR_INTERNAL = 50002;
const SIDECAR_METRICS = 9090;

describe('NetworkPolicies in orders (issue 30 §4)', () => {
  test('deploy/ lists them, starting from a default deny of everything in and out', () => {
    // One subnet of each kind per zone: three by default (settings.ts maxAzs).
    expect(publicSubnets).toHaveLength(3);
    expect(privateSubnets).toHaveLength(3);
    expect(loadDeployDir().files.map((f) => f.file)).toContain('network-policies.yaml');
    const deny = policies.find((p) => p.metadata.name === 'default-deny')!;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    for (const p of policies) expect(p.metadata.namespace).toBe(topology.namespace);
  });

  test('the system still has what it needs', () => {
    for (const pod of [store, generator, collector]) for (const proto of [53]) expect(allowed('Egress', pod, { ip: '172.20.0.10' }, proto)).toBe(true);
    expect(podToPod(generator, store, DAPR_INTERNAL)).toBe(true);
    for (const lb of publicSubnets) expect(allowed('Ingress', store, { ip: lb }, topology.orderStore.port)).toBe(true);
    for (const cache of privateSubnets) for (const port of [6379, 6380]) expect(allowed('Egress', store, { ip: cache }, port)).toBe(true);
    for (const pod of [store, generator]) {
      for (const port of [50001, 6500, 50005, 50006]) expect(allowed('Egress', pod, { pod: { app: 'dapr-sentry' }, namespace: 'dapr-system' }, port)).toBe(true);
      expect(podToPod(pod, collector, 4318)).toBe(true);
      for (const port of [topology.appMetricsPort, SIDECAR_METRICS]) expect(podToPod(collector, pod, port)).toBe(true);
    }
    expect(allowed('Egress', collector, { pod: { app: 'dapr-sentry' }, namespace: 'dapr-system' }, SIDECAR_METRICS)).toBe(true);
  });

  test("a Pod outside the allows reaches neither the store's sidecar, its app port, its metrics nor the cache", () => {
    expect(podToPod(intruder, store, DAPR_INTERNAL)).toBe(false);
    expect(podToPod(intruder, store, topology.orderStore.port)).toBe(false);
    expect(podToPod(intruder, store, topology.appMetricsPort)).toBe(false);
    for (const cache of privateSubnets) expect(allowed('Egress', intruder, { ip: cache }, 6379)).toBe(false);
    // Nor does order-generator reach order-store's app port directly, nor the cache.
    expect(podToPod(generator, store, topology.orderStore.port)).toBe(false);
    for (const cache of privateSubnets) expect(allowed('Egress', generator, { ip: cache }, 6379)).toBe(false);
    // The app port admits the load balancer's subnets only, which hold no Pod.
    const appPortPeers = policies.flatMap((p) => p.spec.ingress ?? []).filter((r) => r.ports?.some((p) => p.port === topology.orderStore.port)).flatMap((r) => r.from ?? []);
    expect(appPortPeers.map((peer) => peer.ipBlock?.cidr)).toEqual(publicSubnets);
  });

  test("the CDK app turns on Auto Mode's network policy controller before the workloads apply", () => {
    const controller = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'NetworkPoliciesController');
    const manifest = JSON.parse(flatten((resources[controller]!.Properties as { Manifest: unknown }).Manifest)) as unknown[];
    expect(manifest).toEqual([
      expect.objectContaining({ apiVersion: 'v1', kind: 'ConfigMap', metadata: expect.objectContaining({ name: 'amazon-vpc-cni', namespace: 'kube-system' }), data: { 'enable-network-policy-controller': 'true' } }),
    ]);
    expect(resources[logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'OrdersWorkloads')]!.DependsOn).toContain(controller);
  });
});
