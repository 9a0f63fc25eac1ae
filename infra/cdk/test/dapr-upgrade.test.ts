import { expect } from '@jest/globals';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daprCrds } from '../lib/dapr-control-plane';
import { DAPR_VERSION_ANNOTATION, ordersManifests, podTemplateOf } from '../lib/manifests';
import { topology } from '../lib/topology';

const deployment = { images: {}, cacheEndpoint: 'cache.example:6379' };
const versionOf = (daprVersion?: string) => {
  const objects = ordersManifests(daprVersion ? { ...deployment, daprVersion } : deployment).flatMap((file) => file.objects);
  return [topology.orderStore.appId, topology.orderGenerator.appId].map((app) => podTemplateOf(objects, app).metadata?.annotations?.[DAPR_VERSION_ANNOTATION]);
};

describe('a Dapr version bump rolls the sidecars', () => {
  test('both Deployments\' pod templates carry the control plane\'s version, the pinned one by default', () => {
    expect(versionOf()).toEqual([topology.daprVersion, topology.daprVersion]);
  });

  test('a different version changes both templates', () => {
    expect(versionOf('1.19.0')).toEqual(['1.19.0', '1.19.0']);
  });
});

describe('the CRDs of a Dapr version', () => {
  test('the pinned version has a copy: Component, Configuration and Resiliency among them', () => {
    const kinds = daprCrds(topology.daprVersion).map((crd) => (crd.spec as { names: { kind: string } }).names.kind);
    expect(kinds).toEqual(expect.arrayContaining(['Component', 'Configuration', 'Resiliency']));
  });

  test('a copy holding anything but CRDs is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dapr-crds-'));
    mkdirSync(join(dir, '9.9.9'));
    writeFileSync(join(dir, '9.9.9', 'stray.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n');
    expect(() => daprCrds('9.9.9', dir)).toThrow(/only CustomResourceDefinitions, found ConfigMap stray/);
  });
});
