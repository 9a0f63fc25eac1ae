import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { parse } from 'yaml';
import { daprChartDir } from '../../harness/dapr-module';
import kubernetesVersions from '../../../infra/cdk/kubernetes-versions.json';
import { KUBERNETES_MINOR } from '../../../infra/cdk/lib/cluster';
import { daprHelmValues, type HelmValues } from '../../../infra/cdk/lib/dapr-helm-values';
import { topology } from '../../../infra/cdk/lib/topology';
import { flatten, manifestsOf, type SynthObject, synth } from '../../../infra/cdk/test/helpers';

// The EKS Auto Mode and Dapr details that decide whether `cdk deploy` ends with a load balancer
// that answers: each checked on the synthesized template, against the page that documents it.

const { stack, template } = synth();
const objects = [...manifestsOf(template).values()].flat();
const find = (kind: string, name: string): SynthObject => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in the synthesized manifests`);
  return found;
};

describe("order-store's Service is one Auto Mode makes an NLB for", () => {
  const service = find('Service', topology.orderStore.appId);

  test('it names Auto Mode\'s load balancer class', () => {
    // https://docs.aws.amazon.com/eks/latest/userguide/auto-configure-nlb.html: "loadBalancerClass:
    // eks.amazonaws.com/nlb"; the same page's migration table: aws-load-balancer-type is not
    // supported, "Use spec.loadBalancerClass on Service".
    expect(service.spec).toMatchObject({ type: 'LoadBalancer', loadBalancerClass: 'eks.amazonaws.com/nlb' });
  });

  test('it carries only annotations Auto Mode documents as supported, and is internet-facing with pod-IP targets', () => {
    // The "Commonly used annotations" table of the same page, less the two its migration table
    // marks "Not supported" (aws-load-balancer-type and load-balancer-source-ranges: the source
    // ranges are spec.loadBalancerSourceRanges, which the CDK app sets from allowedClientCidrs).
    const supportedByAutoMode = [
      'aws-load-balancer-nlb-target-type',
      'aws-load-balancer-scheme',
      'aws-load-balancer-healthcheck-protocol',
      'aws-load-balancer-healthcheck-path',
      'aws-load-balancer-healthcheck-port',
      'aws-load-balancer-subnets',
      'aws-load-balancer-ssl-cert',
      'aws-load-balancer-ssl-ports',
      'aws-load-balancer-additional-resource-tags',
      'aws-load-balancer-ip-address-type',
      'aws-load-balancer-attributes',
      'aws-load-balancer-target-group-attributes',
    ].map((name) => `service.beta.kubernetes.io/${name}`);
    const annotations = service.metadata.annotations ?? {};
    expect(Object.keys(annotations).filter((key) => !supportedByAutoMode.includes(key))).toEqual([]);
    expect(annotations).toEqual({
      'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing',
      'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
      'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'HTTP',
      'service.beta.kubernetes.io/aws-load-balancer-healthcheck-path': '/readyz',
    });
    expect(service.spec).toMatchObject({ loadBalancerSourceRanges: ['0.0.0.0/0'] });
  });
});

test('the public subnets carry the tag Auto Mode places internet-facing load balancers by', () => {
  // https://docs.aws.amazon.com/eks/latest/userguide/tag-subnets-auto.html: public subnets
  // kubernetes.io/role/elb = 1 (or empty), private ones kubernetes.io/role/internal-elb.
  const subnets = Object.entries(template.findResources('AWS::EC2::Subnet')) as [string, { Properties: { MapPublicIpOnLaunch?: boolean; Tags: { Key: string; Value: string }[] } }][];
  const publicSubnets = subnets.filter(([, subnet]) => subnet.Properties.MapPublicIpOnLaunch === true);
  expect(publicSubnets.length).toBeGreaterThanOrEqual(2);
  for (const [, subnet] of publicSubnets) expect(subnet.Properties.Tags).toContainEqual({ Key: 'kubernetes.io/role/elb', Value: '1' });
  for (const [, subnet] of subnets.filter(([, s]) => s.Properties.MapPublicIpOnLaunch !== true)) {
    expect(subnet.Properties.Tags).not.toContainEqual({ Key: 'kubernetes.io/role/elb', Value: '1' });
  }
});

test("the apps' Pods go to nodes of the architecture their images are built for", () => {
  // https://docs.aws.amazon.com/eks/latest/userguide/set-builtin-node-pools.html: the
  // general-purpose pool "Uses only amd64", the system pool both amd64 and arm64.
  const assembly = App.of(stack)?.synth();
  const platforms = (assembly?.artifacts ?? [])
    .filter((artifact): artifact is AssetManifestArtifact => artifact instanceof AssetManifestArtifact)
    .flatMap((artifact) => {
      const manifest = JSON.parse(readFileSync(artifact.file, 'utf8')) as { dockerImages?: Record<string, { source: { platform?: string } }> };
      return Object.values(manifest.dockerImages ?? {}).map((image) => image.source.platform);
    });
  expect(platforms).toEqual(['linux/amd64', 'linux/amd64']);
  for (const app of [topology.orderStore, topology.orderGenerator]) {
    const spec = (find('Deployment', app.appId).spec as { template: { spec: { nodeSelector?: Record<string, string> } } }).template.spec;
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
  }
});

test('the cluster runs the Kubernetes minor the control-plane tests build and run', () => {
  expect(KUBERNETES_MINOR).toBe(kubernetesVersions.kubernetes.split('.').slice(0, 2).join('.'));
  template.hasResourceProperties('AWS::EKS::Cluster', { Version: KUBERNETES_MINOR });
  // The kubectl the stack applies manifests with comes from @aws-cdk/lambda-layer-kubectl-v36.
  expect(KUBERNETES_MINOR).toBe('1.36');
});

describe('the Dapr Helm values', () => {
  /** The chart's values: the parent's, with each subchart's under its name, as Helm merges them. */
  const chartValues = (): HelmValues => {
    const dir = daprChartDir();
    const values = parse(readFileSync(join(dir, 'values.yaml'), 'utf8')) as HelmValues;
    const subcharts = (parse(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as { dependencies: { name: string }[] }).dependencies;
    for (const { name } of subcharts) {
      values[name] = { ...(parse(readFileSync(join(dir, 'charts', name, 'values.yaml'), 'utf8')) as HelmValues), ...((values[name] as HelmValues | undefined) ?? {}) };
    }
    return values;
  };

  test('the CDK app installs the chart with exactly these values', () => {
    const release = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart')).find(
      (resource) => (resource as { Properties: { Release: string } }).Properties.Release === 'dapr',
    ) as { Properties: { Values: unknown } };
    expect(JSON.parse(flatten(release.Properties.Values))).toEqual(daprHelmValues({ highAvailability: true }));
  });

  test.each([false, true])('every key exists in the pinned chart, with a value of the same type (HA %s)', (highAvailability) => {
    expect(missingKeys(daprHelmValues({ highAvailability }), chartValues())).toEqual([]);
  });

  test('a misspelt key is caught', () => {
    const values = daprHelmValues({ highAvailability: false });
    values.dapr_sidecar_injector = { sidecarDropAllCapabilities: true };
    expect(missingKeys(values, chartValues())).toEqual(['dapr_sidecar_injector.sidecarDropAllCapabilities']);
  });
});

/**
 * The dotted paths of `values` that the chart's values do not have, or have as another type. An
 * empty map in the chart (`resources: {}`) is free-form: the templates write it out with toYaml.
 */
function missingKeys(values: HelmValues, chart: HelmValues, prefix = ''): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    const path = `${prefix}${key}`;
    const known = chart[key];
    if (known === undefined || typeof known !== typeof value) return [path];
    if (typeof value !== 'object' || Object.keys(known as HelmValues).length === 0) return [];
    return missingKeys(value, known as HelmValues, `${path}.`);
  });
}
