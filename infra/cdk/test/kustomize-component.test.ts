import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { applyComponent } from '../lib/kustomize-component';
import type { K8sObject } from '../lib/manifests';

const objects: K8sObject[] = [
  { apiVersion: 'dapr.io/v1alpha1', kind: 'Configuration', metadata: { name: 'config', namespace: 'orders' }, spec: { tracing: { samplingRate: '1' } } },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'store', namespace: 'orders', labels: { tier: 'app' } },
    spec: { template: { spec: { containers: [{ name: 'store', env: [{ name: 'A', value: '1' }] }] } } },
  },
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'other', namespace: 'orders' }, spec: { template: { spec: { containers: [{ name: 'other', env: [] }] } } } },
];

describe('applyComponent: a kustomize Component of JSON 6902 patches, as kubectl apply -k applies it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'component-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const component = (patches: unknown[], extra: Record<string, unknown> = {}) => {
    writeFileSync(join(dir, 'kustomization.yaml'), stringify({ apiVersion: 'kustomize.config.k8s.io/v1alpha1', kind: 'Component', patches, ...extra }));
    return dir;
  };
  const patch = (target: Record<string, string>, operations: unknown[]) => ({ target, patch: stringify(operations) });

  test('adds, replaces and removes on the objects its targets select, leaving the input untouched', () => {
    const before = JSON.stringify(objects);
    const out = applyComponent(objects, component([
      patch({ group: 'dapr.io', kind: 'Configuration', name: 'config' }, [{ op: 'add', path: '/spec/tracing/otel', value: { endpointAddress: 'collector:4318' } }]),
      patch({ kind: 'Deployment', labelSelector: 'tier=app' }, [
        { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'B', value: '2' } },
        { op: 'replace', path: '/spec/template/spec/containers/0/env/0/value', value: '3' },
      ]),
      patch({ kind: 'Deployment', name: 'oth.*' }, [{ op: 'remove', path: '/spec/template/spec/containers/0/env' }]),
    ]));
    expect(JSON.stringify(objects)).toBe(before);
    expect(out[0]!.spec).toEqual({ tracing: { samplingRate: '1', otel: { endpointAddress: 'collector:4318' } } });
    expect(out[1]!.spec).toEqual({ template: { spec: { containers: [{ name: 'store', env: [{ name: 'A', value: '3' }, { name: 'B', value: '2' }] }] } } });
    expect(out[2]!.spec).toEqual({ template: { spec: { containers: [{ name: 'other' }] } } });
  });

  test('refuses what it would otherwise skip or get wrong: no match, a missing parent, other ops, other fields', () => {
    expect(() => applyComponent(objects, component([patch({ kind: 'Deployment', name: 'stor' }, [{ op: 'remove', path: '/spec' }])]))).toThrow(/selects no object/);
    expect(() => applyComponent(objects, component([patch({ kind: 'Configuration' }, [{ op: 'add', path: '/spec/metrics/enabled', value: true }])]))).toThrow(/"metrics" does not exist/);
    expect(() => applyComponent(objects, component([patch({ kind: 'Configuration' }, [{ op: 'replace', path: '/spec/nothing', value: 1 }])]))).toThrow(/does not exist/);
    expect(() => applyComponent(objects, component([patch({ kind: 'Configuration' }, [{ op: 'move', from: '/spec', path: '/x' }])]))).toThrow(/op "move"/);
    expect(() => applyComponent(objects, component([patch({ kind: 'Deployment', labelSelector: 'tier in (app)' }, [])]))).toThrow(/labelSelector/);
    expect(() => applyComponent(objects, component([], { resources: ['collector.yaml'] }))).toThrow(/resources not supported/);
  });
});
