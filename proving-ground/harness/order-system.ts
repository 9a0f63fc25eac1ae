import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppBuild, type AppProcess, startOrderGenerator, startOrderStore } from './apps';
import { type Sidecar, type SidecarOptions, generatorAppId, startSidecar, storeAppId } from './daprd';
import { type Jaeger, startJaeger } from '../../dev/src/jaeger';
import { freePort } from '../../dev/src/processes';
import { type RedisServer, startRedis } from '../../dev/src/redis';
import { type Sentry, startSentry } from '../../dev/src/sentry';

/** order-store on its own sidecar and Redis, both sending spans to a Jaeger of their own. */
export interface TracedStore {
  jaeger: Jaeger;
  daprd: Sidecar;
  store: AppProcess;
  stop(): Promise<void>;
}

export interface TracedStoreOptions {
  /** The sidecar's Dapr samplingRate; components/configuration.yaml's when unset. */
  daprSamplingRate?: string;
  /** order-store's settings, on top of where its spans go. */
  storeEnv?: NodeJS.ProcessEnv;
}

export async function startTracedStore(options: TracedStoreOptions = {}): Promise<TracedStore> {
  const started: Array<{ stop(): Promise<unknown> }> = [];
  try {
    const jaeger = await startJaeger();
    started.push(jaeger);
    const redis = await startRedis();
    started.push(redis);
    const daprd = await startSidecar({ appId: storeAppId, env: { ORDERS_REDIS_HOST: redis.address }, otlpAddress: jaeger.otlpAddress, samplingRate: options.daprSamplingRate });
    started.push(daprd);
    const store = await startOrderStore({ daprHttpPort: daprd.httpPort, env: { ...tracingEnv(jaeger), ...options.storeEnv } });
    started.push(store);
    return { jaeger, daprd, store, stop: () => stopInReverse(started) };
  } catch (error) {
    await stopInReverse(started);
    throw error;
  }
}

/** One order-store replica: the app and its own sidecar, under the shared app id. */
export interface StoreReplica {
  sidecar: Sidecar;
  app: AppProcess;
}

export interface OrderSystem {
  redis: RedisServer;
  sentry: Sentry;
  /** Every order-store replica; order-generator's sidecar spreads its calls over them. */
  stores: StoreReplica[];
  /** The first replica's sidecar and app. */
  storeSidecar: Sidecar;
  store: AppProcess;
  generatorSidecar: Sidecar;
  /** Present when the system was started with a generator. */
  generator?: AppProcess;
  stop(): Promise<void>;
}

export interface OrderSystemOptions {
  /** Start order-generator with these settings; omit to drive the store by hand. */
  generator?: NodeJS.ProcessEnv;
  storeEnv?: NodeJS.ProcessEnv;
  build?: AppBuild;
  redisAppendOnly?: boolean;
  appApiToken?: string;
  /** order-store replicas, each with its own sidecar; 1 unless told. */
  storeReplicas?: number;
  /** Where both sidecars and both apps send their spans; none unless told. */
  jaeger?: Jaeger;
}

export interface StoreReplicasOptions {
  replicas: number;
  sentry: Sentry;
  /** The sidecars' environment: where the state store component finds Redis. */
  daprEnv: NodeJS.ProcessEnv;
  /** The sidecars' Dapr resources; components/ unless told. */
  resourcesPath?: string;
  storeEnv?: NodeJS.ProcessEnv;
  appApiToken?: string;
  build?: AppBuild;
  /** Where replica i's app output also goes, e.g. a LogCapture. */
  echo?: (replica: number) => NodeJS.WritableStream | undefined;
  /** Where replica i's sidecar output also goes. */
  sidecarEcho?: (replica: number) => NodeJS.WritableStream | undefined;
  sidecarLogLevel?: SidecarOptions['logLevel'];
  jaeger?: Jaeger;
}

/** The settings that send an app's spans to `jaeger`, or nothing. */
export function tracingEnv(jaeger: Jaeger | undefined): NodeJS.ProcessEnv {
  return jaeger ? { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint } : {};
}

/**
 * order-store replicas as Kubernetes runs them: each app behind a sidecar of its own, every
 * sidecar under the one app id, so that callers' sidecars spread invocations over them. Each part
 * is added to `started` as soon as it runs, for the caller to stop.
 */
export async function startStoreReplicas(options: StoreReplicasOptions, started: Array<{ stop(): Promise<unknown> }>): Promise<StoreReplica[]> {
  const storeEnv = { ...tracingEnv(options.jaeger), ...options.storeEnv, ...(options.appApiToken ? { APP_API_TOKEN: options.appApiToken } : {}) };
  const replicas: StoreReplica[] = [];
  for (let replica = 0; replica < options.replicas; replica += 1) {
    const port = await freePort();
    const sidecar = await startSidecar({
      appId: storeAppId,
      appPort: port,
      sentry: options.sentry,
      env: options.daprEnv,
      ...(options.resourcesPath ? { resourcesPath: options.resourcesPath } : {}),
      ...(options.appApiToken ? { appApiToken: options.appApiToken } : {}),
      ...(options.sidecarLogLevel ? { logLevel: options.sidecarLogLevel } : {}),
      ...(options.jaeger ? { otlpAddress: options.jaeger.otlpAddress } : {}),
      echo: options.sidecarEcho?.(replica),
    });
    started.push(sidecar);
    const echo = options.echo?.(replica);
    const app = await startOrderStore({ daprHttpPort: sidecar.httpPort, port, env: storeEnv, build: options.build ?? 'source', ...(echo ? { echo } : {}) });
    started.push(app);
    replicas.push({ sidecar, app });
  }
  return replicas;
}

/** Stops what `started` holds, last started first. */
export async function stopInReverse(started: Array<{ stop(): Promise<unknown> }>): Promise<void> {
  for (const part of started.reverse()) await part.stop();
}

/** The whole order path on free ports: Redis, Sentry, both sidecars with mTLS, both apps. */
export async function startOrderSystem(options: OrderSystemOptions = {}): Promise<OrderSystem> {
  const started: Array<{ stop(): Promise<unknown> }> = [];
  const stop = () => stopInReverse(started);
  try {
    const redis = await startRedis({ appendOnly: options.redisAppendOnly ?? false });
    started.push(redis);
    const sentry = await startSentry({ dir: mkdtempSync(join(tmpdir(), 'orders-sentry-')) });
    started.push(sentry);
    const daprEnv = { ORDERS_REDIS_HOST: redis.address };
    const stores = await startStoreReplicas(
      {
        replicas: options.storeReplicas ?? 1,
        sentry,
        daprEnv,
        ...(options.storeEnv ? { storeEnv: options.storeEnv } : {}),
        ...(options.appApiToken ? { appApiToken: options.appApiToken } : {}),
        ...(options.build ? { build: options.build } : {}),
        ...(options.jaeger ? { jaeger: options.jaeger } : {}),
      },
      started,
    );
    const generatorSidecar = await startSidecar({
      appId: generatorAppId,
      sentry,
      env: daprEnv,
      ...(options.jaeger ? { otlpAddress: options.jaeger.otlpAddress } : {}),
    });
    started.push(generatorSidecar);
    const generator = options.generator
      ? await startOrderGenerator({
          daprHttpPort: generatorSidecar.httpPort,
          env: { ...tracingEnv(options.jaeger), ...options.generator },
          build: options.build ?? 'source',
        })
      : undefined;
    if (generator) started.push(generator);
    const [first] = stores as [StoreReplica];
    return { redis, sentry, stores, storeSidecar: first.sidecar, store: first.app, generatorSidecar, ...(generator ? { generator } : {}), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
