import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppBuild, type AppProcess, startOrderGenerator, startOrderStore } from './apps';
import { type Sidecar, generatorAppId, startSidecar, storeAppId } from './daprd';
import { freePort } from './processes';
import { type RedisServer, startRedis } from './redis';
import { type Sentry, startSentry } from './sentry';

export interface OrderSystem {
  redis: RedisServer;
  sentry: Sentry;
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
}

/** The whole order path on free ports: Redis, Sentry, both sidecars with mTLS, both apps. */
export async function startOrderSystem(options: OrderSystemOptions = {}): Promise<OrderSystem> {
  const started: Array<{ stop(): Promise<unknown> }> = [];
  const stop = async () => {
    for (const part of started.reverse()) await part.stop();
  };
  try {
    const redis = await startRedis({ appendOnly: options.redisAppendOnly ?? false });
    started.push(redis);
    const sentry = await startSentry({ dir: mkdtempSync(join(tmpdir(), 'orders-sentry-')) });
    started.push(sentry);
    const daprEnv = { ORDERS_REDIS_HOST: redis.address };
    const storePort = await freePort();
    const storeSidecar = await startSidecar({
      appId: storeAppId,
      appPort: storePort,
      sentry,
      env: daprEnv,
      ...(options.appApiToken ? { appApiToken: options.appApiToken } : {}),
    });
    started.push(storeSidecar);
    const storeEnv = { ...options.storeEnv, ...(options.appApiToken ? { APP_API_TOKEN: options.appApiToken } : {}) };
    const store = await startOrderStore({ daprHttpPort: storeSidecar.httpPort, port: storePort, env: storeEnv, build: options.build ?? 'source' });
    started.push(store);
    const generatorSidecar = await startSidecar({ appId: generatorAppId, sentry, env: daprEnv });
    started.push(generatorSidecar);
    const generator = options.generator
      ? await startOrderGenerator({ daprHttpPort: generatorSidecar.httpPort, env: options.generator, build: options.build ?? 'source' })
      : undefined;
    if (generator) started.push(generator);
    return { redis, sentry, storeSidecar, store, generatorSidecar, ...(generator ? { generator } : {}), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
