import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { topology } from '@orders/common';
import { daprBinary } from '../../dev/src/dapr-binaries';
import { type Proc, answers, freePort, startProcess, awaitReady } from '../../dev/src/processes';

export const repoRoot = join(__dirname, '..', '..');
export const localResources = join(repoRoot, 'components');
export const localConfiguration = join(localResources, 'configuration.yaml');

/**
 * components/configuration.yaml (mTLS, access control, tracing) with two changes. Spans go to
 * `otlpAddress` (a test's own Jaeger) or nowhere when none is given: the sidecars still trace and
 * pass traceparent on, but send nothing to a 127.0.0.1:4318 that may be someone's `npm start`.
 * And sidecars find each other
 * through a SQLite file of their own instead of mDNS. With mDNS every sidecar on the machine that
 * calls itself order-store answers for it, so a test run beside another run, or after one whose
 * sidecars are gone, sends some of its calls to theirs.
 */
export function isolatedConfiguration(nameResolutionDb: string, base = localConfiguration, otlpAddress?: string, samplingRate?: string): string {
  const read = readFileSync(base, 'utf8');
  // samplingRate "0" turns Dapr's tracing off (dapr/pkg/diagnostics/utils: IsTracingEnabled at v1.18.2).
  const local = samplingRate === undefined ? read : read.replace(/samplingRate: "[^"]*"/, `samplingRate: "${samplingRate}"`);
  const otelBlock = /^ {4}otel:\n(?: {6}.*\n)+/m;
  if (!otelBlock.test(local)) throw new Error(`${base} has no spec.tracing.otel block to point at the test's collector`);
  const text = otlpAddress
    ? local.replace(otelBlock, (block) => block.replace(/endpointAddress: .*/, `endpointAddress: ${otlpAddress}`))
    : local.replace(otelBlock, '');
  if (!/^spec:\n/m.test(text)) throw new Error(`${base} has no top-level spec: to add name resolution to`);
  const nameResolution = [
    'spec:',
    '  nameResolution:',
    '    component: sqlite',
    '    version: v1',
    '    configuration:',
    `      connectionString: "${nameResolutionDb}"`,
    // A sidecar's row counts while it is younger than updateInterval, in whole seconds, and is
    // renewed every updateInterval - timeout. With the defaults (5s, 1s) a renewal that starts
    // late by more than what is left of the second it was last written in (as little as a few
    // ms) leaves the row stale: calls to that app fail at once. Renewing every 2s leaves at
    // least 2s to spare, and a stopped sidecar still drops out after 5s.
    '      updateInterval: 5s',
    '      timeout: 3s',
    '',
  ].join('\n');
  const path = join(dirname(nameResolutionDb), `configuration${otlpAddress ? `-${otlpAddress.replace(/\W/g, '-')}` : ''}${samplingRate === undefined ? '' : `-rate-${samplingRate}`}.yaml`);
  writeFileSync(path, text.replace(/^spec:\n/m, nameResolution));
  return path;
}

let processNameResolution: string | undefined;

/** The name resolution every sidecar this process starts shares, unless told otherwise. */
function defaultNameResolution(): string {
  processNameResolution ??= join(mkdtempSync(join(tmpdir(), 'orders-names-')), 'names.db');
  return processNameResolution;
}

export interface Sidecar {
  appId: string;
  httpPort: number;
  grpcPort: number;
  internalGrpcPort: number;
  metricsPort: number;
  /** Base URL of the sidecar's HTTP API, e.g. http://127.0.0.1:1234/v1.0 */
  api: string;
  proc: Proc;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface SidecarOptions {
  appId: string;
  appPort?: number;
  /** Omit to run without mTLS: a sidecar with no Sentry-issued identity. */
  sentry?: { address: string; trustAnchors: string };
  resourcesPath?: string;
  /** A Dapr Configuration file; by default the local one, isolated by `nameResolution`. */
  configPath?: string;
  /** The SQLite file sidecars find each other in; sidecars that must call each other share one. */
  nameResolution?: string;
  /** Passed to daprd, e.g. ORDERS_REDIS_HOST for the state store component. */
  env?: NodeJS.ProcessEnv;
  appApiToken?: string;
  ports?: Partial<Pick<Sidecar, 'httpPort' | 'grpcPort' | 'internalGrpcPort' | 'metricsPort'>>;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  echo?: NodeJS.WritableStream;
  /** `host:port` of an OTLP/HTTP receiver (a test's Jaeger) for the sidecar's spans; none by default. */
  otlpAddress?: string;
  /** Dapr's samplingRate in the local Configuration; its own ("1") by default. */
  samplingRate?: string;
}

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const httpPort = options.ports?.httpPort ?? (await freePort());
  const grpcPort = options.ports?.grpcPort ?? (await freePort());
  const internalGrpcPort = options.ports?.internalGrpcPort ?? (await freePort());
  const metricsPort = options.ports?.metricsPort ?? (await freePort());
  const args = [
    '--app-id', options.appId,
    '--dapr-http-port', String(httpPort),
    '--dapr-grpc-port', String(grpcPort),
    '--dapr-internal-grpc-port', String(internalGrpcPort),
    '--metrics-port', String(metricsPort),
    '--dapr-listen-addresses', '127.0.0.1',
    '--resources-path', options.resourcesPath ?? localResources,
    '--config', options.configPath ?? isolatedConfiguration(options.nameResolution ?? defaultNameResolution(), localConfiguration, options.otlpAddress, options.samplingRate),
    // No actors or workflows: no placement or scheduler to look for.
    '--placement-host-address', '',
    '--scheduler-host-address', '',
    '--log-level', options.logLevel ?? 'warn',
    '--log-as-json',
  ];
  if (options.appPort !== undefined) {
    args.push('--app-port', String(options.appPort), '--enable-app-health-check', '--app-health-check-path', '/healthz');
  }
  // DAPR_HOST_IP: the address a sidecar registers for others to call; loopback keeps every call
  // between sidecars on this machine.
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, NAMESPACE: 'default', DAPR_HOST_IP: '127.0.0.1' };
  if (options.sentry) {
    args.push('--enable-mtls', '--sentry-address', options.sentry.address);
    env.DAPR_TRUST_ANCHORS = options.sentry.trustAnchors;
  }
  if (options.appApiToken) env.APP_API_TOKEN = options.appApiToken;
  const proc = startProcess(`daprd:${options.appId}`, daprBinary('daprd'), args, { env, echo: options.echo });
  const api = `http://127.0.0.1:${httpPort}/v1.0`;
  // The outbound health endpoint answers once the sidecar can serve its APIs, app or not.
  await awaitReady(proc, `daprd ${options.appId}`, () => answers(`${api}/healthz/outbound`), 60_000);
  return {
    appId: options.appId,
    httpPort,
    grpcPort,
    internalGrpcPort,
    metricsPort,
    api,
    proc,
    stop: async () => {
      await proc.stop(10_000);
    },
    kill: async () => {
      await proc.kill();
    },
  };
}

export const storeAppId = topology.orderStore.appId;
export const generatorAppId = topology.orderGenerator.appId;
