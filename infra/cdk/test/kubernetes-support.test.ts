import { expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import kubernetesVersions from '../kubernetes-versions.json';
import { KUBERNETES_MINOR } from '../lib/cluster';
import { synth } from './helpers';

// The cluster's Kubernetes minor stays on EKS standard support, on purpose: extended support is
// billed per cluster hour on top of the control plane, and CloudFormation's default upgrade policy
// (EXTENDED) would slip a cluster into it unnoticed
// (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).

const { eks: calendar } = kubernetesVersions;
const day = (date: string) => new Date(`${date}T00:00:00Z`);

test('the release calendar row recorded is the pinned minor\'s, 14 months of standard support from its EKS release', () => {
  expect(calendar.minor).toBe(KUBERNETES_MINOR);
  const release = day(calendar.amazonEksRelease);
  const end = day(calendar.endOfStandardSupport);
  expect((end.getUTCFullYear() - release.getUTCFullYear()) * 12 + end.getUTCMonth() - release.getUTCMonth()).toBe(14);
  expect(day(calendar.endOfExtendedSupport).getTime()).toBeGreaterThan(end.getTime());
});

test('today is before the end of standard support of the pinned minor (else: move to a newer minor)', () => {
  // Billing for extended support starts at the beginning of that day, UTC (the calendar's note).
  expect({ today: new Date().toISOString().slice(0, 10), before: new Date() < day(calendar.endOfStandardSupport) }).toEqual({
    today: expect.any(String),
    before: true,
  });
});

test('the cluster runs the pinned minor with upgrade policy STANDARD, and the kubectl layer of that minor', () => {
  const { template } = synth({ orderStoreImage: 'example/store:1', orderGeneratorImage: 'example/gen:1' });
  template.hasResourceProperties('AWS::EKS::Cluster', { Version: KUBERNETES_MINOR, UpgradePolicy: { SupportType: 'STANDARD' } });
  const dependencies = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
  const layers = Object.keys(dependencies).filter((name) => name.startsWith('@aws-cdk/lambda-layer-kubectl-v'));
  expect(layers).toEqual([`@aws-cdk/lambda-layer-kubectl-v${KUBERNETES_MINOR.split('.')[1]}`]);
});
