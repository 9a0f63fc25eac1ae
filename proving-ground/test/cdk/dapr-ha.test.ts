import { expect } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { renderDaprChart } from '../../harness/kubernetes/dapr';
import type { K8sObject } from '../../../infra/cdk/lib/manifests';
import { DAPR_CONTROL_PLANE_REQUESTS, DAPR_PRIORITY_CLASS, DAPR_WATCHDOG_INTERVAL, type HelmValues } from '../../../infra/cdk/lib/dapr-helm-values';
import { topology } from '../../../infra/cdk/lib/topology';
import { flatten, logicalId, manifestsOf, synth } from '../../../infra/cdk/test/helpers';

// The Dapr control plane the stack installs, rendered by `helm template` from the pinned chart with
// the values the stack gives it, HA (the default) and not (`-c daprHa=false`), against Dapr's
// production guide (https://docs.dapr.io/operations/hosting/kubernetes/kubernetes-production/).
// `cdk deploy` must also finish: the chart's StatefulSets make PersistentVolumeClaims, and EKS
// Auto Mode creates no StorageClass (https://docs.aws.amazon.com/eks/latest/userguide/create-storage-class.html),
// so a claim without a class the stack creates stays Pending, and the chart's `wait` runs out.

const images = { orderStoreImage: 'example/store:1', orderGeneratorImage: 'example/gen:1' };
const modes = [
  { name: 'HA (the default)', context: images },
  { name: 'daprHa=false', context: { ...images, daprHa: 'false', maxAzs: '2' } },
] as const;
const synthesized = new Map<string, Template>(modes.map((mode) => [mode.name, synth(mode.context).template]));
const rendered = new Map<string, K8sObject[]>();
const templateOf = (name: string): Template => synthesized.get(name) as Template;

beforeAll(async () => {
  for (const mode of modes) {
    const dir = mkdtempSync(join(tmpdir(), 'orders-dapr-chart-'));
    try {
      rendered.set(mode.name, await renderDaprChart(daprValues(templateOf(mode.name)), topology.daprVersion, dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}, 240_000);

/** The StorageClasses the stack applies, by name, with the id of the manifest that holds each. */
function storageClasses(t: Template): Map<string, { manifest: string; object: Record<string, unknown> }> {
  const classes = new Map<string, { manifest: string; object: Record<string, unknown> }>();
  for (const [manifest, objects] of manifestsOf(t)) {
    for (const object of objects) if (object.kind === 'StorageClass') classes.set(object.metadata.name, { manifest, object });
  }
  return classes;
}

function daprValues(t: Template): HelmValues {
  const chart = Object.values(t.findResources('Custom::AWSCDK-EKS-HelmChart')).find(
    (resource) => (resource as { Properties: { Release: string } }).Properties.Release === 'dapr',
  ) as { Properties: { Values: unknown } };
  return JSON.parse(flatten(chart.Properties.Values)) as HelmValues;
}

interface Claim {
  owner: string;
  name: string;
  storageClassName?: string;
}

interface PodTemplate {
  spec: {
    priorityClassName?: string;
    affinity?: { podAntiAffinity?: Record<string, { topologyKey: string }[] | undefined> };
    containers: { name: string; args?: string[]; resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }[];
  };
}
interface Workload {
  kind: string;
  metadata: { name: string };
  spec: { replicas?: number; template: PodTemplate; volumeClaimTemplates?: { metadata: { name: string }; spec?: unknown }[] };
}
const workloads = (objects: K8sObject[]): Workload[] =>
  objects.filter((object) => object.kind === 'Deployment' || object.kind === 'StatefulSet') as unknown as Workload[];
const workload = (objects: K8sObject[], name: string): Workload => {
  const found = workloads(objects).find((object) => object.metadata.name === name);
  if (!found) throw new Error(`the chart renders no ${name}`);
  return found;
};

/** Every claim the rendered chart makes: PersistentVolumeClaims and StatefulSets' volumeClaimTemplates. */
function claimsOf(objects: K8sObject[]): Claim[] {
  return objects.flatMap((object) => {
    if (object.kind === 'PersistentVolumeClaim') {
      return [{ owner: 'PersistentVolumeClaim', name: object.metadata.name, ...className(object.spec) }];
    }
    if (object.kind === 'StatefulSet') {
      const templates = (object.spec as { volumeClaimTemplates?: { metadata: { name: string }; spec?: unknown }[] }).volumeClaimTemplates ?? [];
      return templates.map((claim) => ({ owner: `StatefulSet/${object.metadata.name}`, name: claim.metadata.name, ...className(claim.spec) }));
    }
    return [];
  });
}

function className(spec: unknown): { storageClassName?: string } {
  const name = (spec as { storageClassName?: string } | undefined)?.storageClassName;
  return name === undefined ? {} : { storageClassName: name };
}

describe.each(modes.map((mode) => mode.name))('%s', (name) => {
  test('the stack creates an encrypted gp3 StorageClass of Auto Mode\'s EBS driver before the Dapr chart', () => {
    const t = templateOf(name);
    const classes = storageClasses(t);
    expect(classes.size).toBe(1);
    const resources = t.toJSON().Resources as Record<string, { DependsOn?: string[] }>;
    for (const { manifest, object } of classes.values()) {
      expect(object).toMatchObject({
        provisioner: 'ebs.csi.eks.amazonaws.com',
        volumeBindingMode: 'WaitForFirstConsumer',
        reclaimPolicy: 'Delete',
        parameters: { type: 'gp3', encrypted: 'true' },
      });
      expect(resources[logicalId(t, 'Custom::AWSCDK-EKS-HelmChart', 'DaprChart')]?.DependsOn).toContain(manifest);
    }
  });

  test('the chart runs three scheduler members with a three-peer initial cluster, so each keeps its etcd on a volume of the stack\'s class', () => {
    const objects = rendered.get(name) as K8sObject[];
    const scheduler = workload(objects, 'dapr-scheduler-server');
    expect(scheduler.spec.replicas).toBe(3);
    const args = scheduler.spec.template.spec.containers.find((container) => container.name === 'dapr-scheduler-server')?.args ?? [];
    const peers = args[args.indexOf('--etcd-initial-cluster') + 1]?.split(',') ?? [];
    expect(peers.map((peer) => peer.split('=')[0])).toEqual(['dapr-scheduler-server-0', 'dapr-scheduler-server-1', 'dapr-scheduler-server-2']);
    // Placement keeps its raft log in memory whatever its flags (see dapr-helm-values.ts): no claim.
    expect(claimsOf(objects)).toEqual([{ owner: 'StatefulSet/dapr-scheduler-server', name: 'dapr-scheduler-data-dir', storageClassName: expect.any(String) }]);
    const created = [...storageClasses(templateOf(name)).keys()];
    for (const claim of claimsOf(objects)) expect({ ...claim, created: created.includes(claim.storageClassName ?? '') }).toMatchObject({ created: true });
  });

  test('every control-plane container requests CPU and memory, with no memory limit, and every Pod is system-cluster-critical', () => {
    const objects = rendered.get(name) as K8sObject[];
    const services = { dapr_operator: 'dapr-operator', dapr_sidecar_injector: 'dapr-sidecar-injector', dapr_sentry: 'dapr-sentry', dapr_placement: 'dapr-placement-server', dapr_scheduler: 'dapr-scheduler-server' };
    for (const [service, workloadName] of Object.entries(services)) {
      const pod = workload(objects, workloadName).spec.template.spec;
      for (const container of pod.containers) {
        expect({ workloadName, resources: container.resources }).toEqual({
          workloadName,
          resources: { requests: DAPR_CONTROL_PLANE_REQUESTS[service as keyof typeof services], limits: { cpu: '1' } },
        });
      }
      expect({ workloadName, priorityClassName: pod.priorityClassName }).toEqual({ workloadName, priorityClassName: DAPR_PRIORITY_CLASS });
    }
    expect(workloads(objects).map((w) => w.metadata.name).sort()).toEqual(Object.values(services).sort());
  });

  test('the operator runs the injector watchdog', () => {
    const args = workload(rendered.get(name) as K8sObject[], 'dapr-operator').spec.template.spec.containers[0]?.args ?? [];
    expect(args[args.indexOf('--watch-interval') + 1]).toBe(DAPR_WATCHDOG_INTERVAL);
  });
});

test('the StatefulSets claim the same volumes with and without HA, so a deploy can switch daprHa (claim templates may not change)', () => {
  const claims = (name: string) => claimsOf(rendered.get(name) as K8sObject[]);
  expect(claims('daprHa=false')).toEqual(claims('HA (the default)'));
});

test('HA: three replicas of every service, and no two scheduler or placement members in one zone', () => {
  const objects = rendered.get('HA (the default)') as K8sObject[];
  for (const w of workloads(objects)) expect({ name: w.metadata.name, replicas: w.spec.replicas }).toEqual({ name: w.metadata.name, replicas: 3 });
  for (const name of ['dapr-scheduler-server', 'dapr-placement-server']) {
    const required = workload(objects, name).spec.template.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    expect({ name, zones: required.map((term) => term.topologyKey) }).toEqual({ name, zones: ['topology.kubernetes.io/zone'] });
  }
});
