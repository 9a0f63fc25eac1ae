import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { type AppProcess, startOrderGenerator, startOrderStore } from '../../harness/apps';
import { generatorAppId, startSidecar, storeAppId } from '../../harness/daprd';
import { LogCapture } from '../../harness/log-capture';
import { freePort, runningProcesses, stopAll } from '../../../dev/src/processes';
import { type RedisServer, startRedis } from '../../../dev/src/redis';
import { type Sentry, startSentry } from '../../../dev/src/sentry';

const stats = async (generator: AppProcess) =>
  (await (await fetch(`${generator.url}/stats`)).json()) as { generated: number; accepted: number; backlog: number };

describe('order-generator waits for its sidecar, and on SIGTERM stops cleanly with nothing acknowledged lost', () => {
  let redis: RedisServer;
  let sentry: Sentry;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    sentry = await startSentry({ dir: mkdtempSync(join(tmpdir(), 'orders-sentry-')) });
    const storePort = await freePort();
    const storeSidecar = await startSidecar({ appId: storeAppId, appPort: storePort, sentry, env: { ORDERS_REDIS_HOST: redis.address } });
    await startOrderStore({ daprHttpPort: storeSidecar.httpPort, port: storePort });
    client = new Redis(redis.port, '127.0.0.1');
  });

  afterAll(async () => {
    client?.disconnect();
    await stopAll();
    expect(runningProcesses()).toEqual([]);
  });

  test('no order is generated before the sidecar answers; then they flow; SIGTERM exits 0', async () => {
    const sidecarPort = await freePort();
    const log = new LogCapture();
    const generator = await startOrderGenerator({
      daprHttpPort: sidecarPort,
      env: { ORDERS_PER_SECOND: '50', LOG_LEVEL: 'info' },
      echo: log,
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await stats(generator)).toMatchObject({ generated: 0, accepted: 0 });

    await startSidecar({ appId: generatorAppId, sentry, env: { ORDERS_REDIS_HOST: redis.address }, ports: { httpPort: sidecarPort } });
    const deadline = Date.now() + 30_000;
    while ((await stats(generator)).accepted < 20 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await stats(generator)).accepted).toBeGreaterThanOrEqual(20);

    expect(await generator.stop()).toBe(0);
    const [stopped] = log.withMsg('order-generator stopped');
    expect(stopped).toBeDefined();
    const acknowledged = log.withMsg('order accepted').map((line) => line.orderId!);
    expect(acknowledged.length).toBe(stopped!.raw.accepted);
    for (const orderId of acknowledged) {
      expect(await client.exists(`order-store||order:${orderId}`)).toBe(1);
    }
    // Whatever was generated and not acknowledged was reported, by id, before exiting.
    const unconfirmed = log.withMsg('order not confirmed before shutdown').length;
    expect(acknowledged.length + unconfirmed).toBe(stopped!.raw.generated);
  });
});
