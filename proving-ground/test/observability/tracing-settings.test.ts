import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topology } from '@orders/common';
import { parse } from 'yaml';
import { loadGeneratorConfig } from '../../../apps/order-generator/src/config';
import { loadStoreConfig } from '../../../apps/order-store/src/config';
import { DEPLOY_DIR, loadDeployDir } from '../../../infra/cdk/lib/manifests';
import { COLLECTOR_EXPORT_COMPONENT } from '../../../infra/cdk/lib/observability/collector-manifests';
import { repoRoot } from '../../harness/daprd';
import { deployedEnv } from '../../harness/deployed';

interface TracingSpec {
  samplingRate: string;
  otel: { endpointAddress: string; isSecure: boolean; protocol: string };
}
const tracingOf = (file: string) => (parse(readFileSync(join(repoRoot, file), 'utf8')) as { spec: { tracing: TracingSpec } }).spec.tracing;

describe('tracing settings have one source: packages/common/topology.json', () => {
  test('both orders-config files trace at their topology rate, over OTLP/HTTP without TLS to a collector', () => {
    // deploy/'s exporter comes from the otel-collector-export component, applied as the CDK app applies it.
    const deployed = loadDeployDir(DEPLOY_DIR, [COLLECTOR_EXPORT_COMPONENT])
      .files.flatMap((file) => file.objects)
      .find((object) => object.kind === 'Configuration' && object.metadata.name === topology.daprConfiguration);
    const configs: Array<[string, string, TracingSpec]> = [
      ['components/configuration.yaml', topology.tracing.samplingRate.local, tracingOf('components/configuration.yaml')],
      ['deploy/configuration.yaml', topology.tracing.samplingRate.deployed, (deployed?.spec as { tracing: TracingSpec }).tracing],
    ];
    for (const [file, rate, tracing] of configs) {
      expect({ file, samplingRate: tracing.samplingRate }).toEqual({ file, samplingRate: rate });
      expect(tracing.otel).toMatchObject({ protocol: 'http', isSecure: false });
      expect(tracing.otel.endpointAddress).toMatch(/:4318$/);
    }
    expect(tracingOf('components/configuration.yaml').otel.endpointAddress).toBe(`127.0.0.1:${topology.tracing.otlpHttpPort}`);
  });

  test('the apps sample as their sidecars do: the local rate by default, the deployed one in deploy/', () => {
    expect(loadStoreConfig({}).TRACE_SAMPLING_RATE).toBe(Number(topology.tracing.samplingRate.local));
    expect(loadGeneratorConfig({}).TRACE_SAMPLING_RATE).toBe(Number(topology.tracing.samplingRate.local));
    for (const app of ['order-store', 'order-generator'] as const) {
      expect({ app, TRACE_SAMPLING_RATE: deployedEnv(app).TRACE_SAMPLING_RATE }).toEqual({ app, TRACE_SAMPLING_RATE: topology.tracing.samplingRate.deployed });
    }
    const runFile = parse(readFileSync(join(repoRoot, 'dapr.yaml'), 'utf8')) as { common: { env: Record<string, string> } };
    expect(runFile.common.env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://127.0.0.1:${topology.tracing.otlpHttpPort}`);
  });

  test('a bad rate or endpoint stops the app at startup, naming the variable', () => {
    expect(() => loadStoreConfig({ TRACE_SAMPLING_RATE: '2' })).toThrow(/TRACE_SAMPLING_RATE="2"/);
    expect(() => loadGeneratorConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});
