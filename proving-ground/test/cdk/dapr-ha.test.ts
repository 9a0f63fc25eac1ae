import { expect } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { renderDaprChart } from '../../harness/kubernetes/dapr';
import type { HelmValues } from '../../../infra/cdk/lib/dapr-helm-values';
import { topology } from '../../../infra/cdk/lib/topology';
import { flatten, logicalId, manifestsOf, synth } from '../../../infra/cdk/test/helpers';

// `cdk deploy -c daprHa=true` must finish: with HA on, the Dapr chart gives StatefulSets
// PersistentVolumeClaims, and EKS Auto Mode creates no StorageClass
// (https://docs.aws.amazon.com/eks/latest/userguide/create-storage-class.html), so a claim
// without a class the stack creates stays Pending, and the chart's `wait` runs out.

const { template } = synth({ daprHa: 'true', orderStoreImage: 'example/store:1', orderGeneratorImage: 'example/gen:1' });
const resources = template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[] }>;

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

/** Every claim the rendered chart makes: PersistentVolumeClaims and StatefulSets' volumeClaimTemplates. */
function claimsOf(objects: { kind: string; metadata: { name: string }; spec?: unknown }[]): Claim[] {
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

describe('daprHa=true', () => {
  test('the stack creates an encrypted gp3 StorageClass of Auto Mode\'s EBS driver before the Dapr chart', () => {
    const classes = storageClasses(template);
    expect(classes.size).toBe(1);
    for (const { manifest, object } of classes.values()) {
      expect(object).toMatchObject({
        provisioner: 'ebs.csi.eks.amazonaws.com',
        volumeBindingMode: 'WaitForFirstConsumer',
        reclaimPolicy: 'Delete',
        parameters: { type: 'gp3', encrypted: 'true' },
      });
      expect(resources[logicalId(template, 'Custom::AWSCDK-EKS-HelmChart', 'DaprChart')]?.DependsOn).toContain(manifest);
    }
  });

  test('the Helm values leave no claim without a class the stack creates', () => {
    const values = daprValues(template) as { dapr_placement: HelmValues; dapr_scheduler: { cluster: HelmValues } };
    // Placement 1.18.2 keeps its raft log in memory whatever its flags (see dapr-helm-values.ts):
    // no claim. The scheduler's etcd gets a volume of the stack's class.
    expect(values.dapr_placement).toEqual({ cluster: { forceInMemoryLog: true } });
    expect(values.dapr_scheduler.cluster.inMemoryStorage).toBe(false);
    expect([...storageClasses(template).keys()]).toContain(values.dapr_scheduler.cluster.storageClassName);
  });

  test('the pinned chart, rendered with the values the stack installs, makes claims only of a class the stack creates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orders-dapr-ha-'));
    try {
      const objects = await renderDaprChart(daprValues(template), topology.daprVersion, dir);
      const claims = claimsOf(objects);
      // Three scheduler replicas, one etcd data claim template; nothing else.
      expect(claims).toEqual([{ owner: 'StatefulSet/dapr-scheduler-server', name: 'dapr-scheduler-data-dir', storageClassName: expect.any(String) }]);
      const created = [...storageClasses(template).keys()];
      for (const claim of claims) expect({ ...claim, created: created.includes(claim.storageClassName ?? '') }).toMatchObject({ created: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

test('without HA the chart makes no claim at all, and the stack no StorageClass', async () => {
  const { template: single } = synth({ orderStoreImage: 'example/store:1', orderGeneratorImage: 'example/gen:1' });
  expect(storageClasses(single).size).toBe(0);
  const dir = mkdtempSync(join(tmpdir(), 'orders-dapr-'));
  try {
    expect(claimsOf(await renderDaprChart(daprValues(single), topology.daprVersion, dir))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
