import { topology } from '@orders/common';
import { type AppProcess, startOrderStore } from '../../harness/apps';
import { type Sidecar, startSidecar, storeAppId } from '../../harness/daprd';
import { REMOVED_COMMANDS } from '../../harness/elasticache-serverless';
import { eksStateStore } from '../../harness/eks-resources';
import { freePort, runningProcesses } from '../../../dev/src/processes';
import { type RedisServer, startRedis } from '../../../dev/src/redis';
import { type RedisTlsCluster, startRedisTlsCluster } from '../../harness/redis-cluster';
import { scrape } from '../../bench/dapr-metrics';

// The state writes order-store makes must be ones ElastiCache Serverless accepts. A serverless
// cache is replicated, and refuses WAIT; Dapr's Redis state store sends WAIT after every write
// asked for with `consistency: strong` once the primary reports replicas (components-contrib
// v1.18.3, state/redis/redis.go, Set). The stand-in has a replica per primary and refuses WAIT.

const STATE_PATH = `path="/v1.0/state/${topology.stateStore}"`;

/** State requests (POST /v1.0/state/<store>, saves and bulk reads) the sidecar answered, by status. */
async function stateRequestsByStatus(sidecar: Sidecar): Promise<Map<string, number>> {
  const byStatus = new Map<string, number>();
  for (const [series, value] of await scrape(sidecar.metricsPort)) {
    if (!series.startsWith('dapr_http_server_latency_count{') || !series.includes(STATE_PATH) || !series.includes('method="POST"')) continue;
    const status = /status="(\d+)"/.exec(series)?.[1] ?? '?';
    byStatus.set(status, (byStatus.get(status) ?? 0) + value);
  }
  return byStatus;
}

const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

const ORDERS = 240;
const IN_FLIGHT = 16;

/** ORDERS orders, IN_FLIGHT at a time, straight to order-store; the statuses it answered. */
async function orderLoad(store: AppProcess, prefix: string): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const client = async () => {
    while (next < ORDERS) {
      const orderId = `${prefix}-${next++}`;
      const res = await fetch(`${store.url}/neworder`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: { orderId, customer: 'ada', items: [{ sku: 'oat-milk-1l', quantity: 1, unitPrice: 2.35 }], total: 2.35 } }),
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, client));
  return statuses;
}

async function orderStoreOn(backend: { daprEnv: NodeJS.ProcessEnv; resourcesPath?: string }): Promise<{ sidecar: Sidecar; store: AppProcess }> {
  const port = await freePort();
  const sidecar = await startSidecar({ appId: storeAppId, appPort: port, resourcesPath: backend.resourcesPath, env: backend.daprEnv });
  const store = await startOrderStore({ daprHttpPort: sidecar.httpPort, port });
  return { sidecar, store };
}

describe('state writes on the ElastiCache Serverless stand-in (TLS cluster, a replica per primary, WAIT refused)', () => {
  let cluster: RedisTlsCluster;
  let redis: RedisServer;
  const stops: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    cluster = await startRedisTlsCluster();
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await redis?.stop();
    await cluster?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  test('the stand-in refuses what a serverless cache refuses, and its primaries report their replica', async () => {
    const [primary] = cluster.ports;
    expect(await cluster.cli(primary!, ['WAIT', '1', '100'])).toMatch(/ERR unknown command 'WAIT'/);
    expect(await cluster.cli(primary!, ['BGSAVE'])).toMatch(/ERR unknown command 'BGSAVE'/);
    expect(await cluster.cli(primary!, ['CONFIG', 'GET', 'port'])).toMatch(/NOPERM/);
    expect(await cluster.cli(primary!, ['CLUSTER', 'MEET', '127.0.0.1', '1'])).toMatch(/NOPERM/);
    expect(await cluster.cli(primary!, ['CLUSTER', 'SLOTS'])).not.toMatch(/NOPERM|ERR/);
    expect(REMOVED_COMMANDS.map(({ name }) => name)).toContain('WAIT');
    for (const port of cluster.ports) {
      expect(await cluster.cli(port, ['INFO', 'replication'])).toMatch(/connected_slaves:1\r?\n/);
    }
    expect(cluster.replicaPorts).toHaveLength(cluster.ports.length);
  });

  test("a `strong` save fails there (Dapr's WAIT is refused) though the key is written; an `eventual` one succeeds", async () => {
    const eks = eksStateStore(cluster);
    const sidecar = await startSidecar({ appId: storeAppId, resourcesPath: eks.resourcesPath, env: eks.daprEnv });
    stops.push(() => sidecar.stop());
    const save = (key: string, consistency: string) =>
      fetch(`${sidecar.api}/state/${topology.stateStore}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ key, value: { key }, options: { consistency } }]),
      });
    const strong = await save('probe-strong', 'strong');
    expect(strong.status).toBe(500);
    expect(await strong.text()).toMatch(/ERR_STATE_SAVE.*redis waiting for 1 replicas to acknowledge write.*unknown command 'WAIT'/);
    expect((await fetch(`${sidecar.api}/state/${topology.stateStore}/probe-strong`)).status).toBe(200);
    expect((await save('probe-eventual', 'eventual')).status).toBe(204);
  });

  test('orders at load: every one 201, no state call a 500, and as many state requests per order as on plain Redis', async () => {
    const eks = eksStateStore(cluster);
    const perOrder: Record<string, number> = {};
    for (const [name, backend] of [
      ['redis', { daprEnv: { ORDERS_REDIS_HOST: redis.address } }],
      ['serverless', { daprEnv: eks.daprEnv, resourcesPath: eks.resourcesPath }],
    ] as const) {
      const { sidecar, store } = await orderStoreOn(backend);
      stops.push(() => sidecar.stop(), () => store.stop());
      const before = await stateRequestsByStatus(sidecar);
      const statuses = await orderLoad(store, `load-${name}`);
      const after = await stateRequestsByStatus(sidecar);
      expect({ name, statuses: [...new Set(statuses)] }).toEqual({ name, statuses: [201] });
      expect({ name, state500s: (after.get('500') ?? 0) - (before.get('500') ?? 0) }).toEqual({ name, state500s: 0 });
      perOrder[name] = (total(after) - total(before)) / ORDERS;
    }
    // Group commit batches what arrives together, so the count varies run to run a little; a WAIT
    // failure, a retry or a read-back per order would add a whole request per order or more.
    expect(perOrder.serverless).toBeGreaterThan(0);
    expect(Math.abs(perOrder.serverless! - perOrder.redis!)).toBeLessThan(0.35);
  });
});
