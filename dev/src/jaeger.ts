import { join } from 'node:path';
import { daprBinary } from './dapr-binaries';
import { type Proc, answers, awaitReady, freePort, startProcess } from './processes';

export interface Jaeger {
  /** Base URL OTLP/HTTP senders are given (OTEL_EXPORTER_OTLP_ENDPOINT); traces go to <it>/v1/traces. */
  otlpEndpoint: string;
  /** `host:port` of the same receiver, the form Dapr's tracing.otel.endpointAddress takes. */
  otlpAddress: string;
  /** Jaeger's query API and UI, e.g. http://127.0.0.1:16686 */
  queryUrl: string;
  proc: Proc;
  stop(): Promise<void>;
}

export interface JaegerOptions {
  otlpHttpPort?: number;
  queryPort?: number;
  echo?: NodeJS.WritableStream;
}

export const jaegerConfig = join(__dirname, 'jaeger.yaml');

/** Starts Jaeger v2 with in-memory storage (proving-ground/harness/jaeger.yaml) and waits for its query API. */
export async function startJaeger(options: JaegerOptions = {}): Promise<Jaeger> {
  const otlpHttpPort = options.otlpHttpPort ?? (await freePort());
  const queryPort = options.queryPort ?? (await freePort());
  const queryGrpcPort = await freePort();
  const env = {
    ...process.env,
    JAEGER_OTLP_HTTP_PORT: String(otlpHttpPort),
    JAEGER_QUERY_PORT: String(queryPort),
    JAEGER_QUERY_GRPC_PORT: String(queryGrpcPort),
  };
  const proc = startProcess(`jaeger:${queryPort}`, daprBinary('jaeger'), ['--config', `file:${jaegerConfig}`], { env, echo: options.echo });
  const queryUrl = `http://127.0.0.1:${queryPort}`;
  await awaitReady(proc, 'jaeger query API', () => answers(`${queryUrl}/api/services`), 30_000);
  return {
    otlpEndpoint: `http://127.0.0.1:${otlpHttpPort}`,
    otlpAddress: `127.0.0.1:${otlpHttpPort}`,
    queryUrl,
    proc,
    stop: async () => {
      await proc.stop(5_000);
    },
  };
}
