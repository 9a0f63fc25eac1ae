import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis, { Cluster } from 'ioredis';
import { isNewer } from '../../../apps/order-store/src/acceptance-clock';
import { startOrderGenerator } from '../../harness/apps';
import { generatorAppId, startSidecar } from '../../harness/daprd';
import { eksStateStore } from '../../harness/eks-resources';
import { type Latest, LatestWatch, latestThroughStores } from '../../harness/latest-watch';
import { LogCapture } from '../../harness/log-capture';
import { runningProcesses, waitFor } from '../../../dev/src/processes';
import { startRedis } from '../../../dev/src/redis';
import { scanKeys, startRedisTlsCluster } from '../../harness/redis-cluster';
import { startSentry } from '../../../dev/src/sentry';
import { type StoreReplica, startStoreReplicas, stopInReverse } from '../../harness/order-system';

// order-store as EKS runs it, with 2 or 3 replicas behind sidecars of their own under one app id:
// order-generator's sidecar spreads its orders over them (name resolution picks one per call), and
// clients post to every replica directly, as the load balancer spreads them. The latest-order
// pointer is shared; what the tests hold it to: read from Redis after every batch it never goes
// back, a reader going round the replicas' GET /order never sees an older order than one it saw,
// and once all is written it holds the newest order stored.

type Order = Latest;

interface Backend {
  daprEnv: NodeJS.ProcessEnv;
  resourcesPath?: string;
  /** The pointer as Redis holds it, read with ioredis. */
  readPointer(): Promise<Order | undefined>;
  /** Every order Redis holds under its own key. */
  readOrders(): Promise<Order[]>;
  stop(): Promise<void>;
}

// Dapr's Redis state store keeps each key as a hash under `<app-id>||<key>`, the value in `data`.
const POINTER_KEY = 'order-store||latest-order';
const ORDER_PREFIX = 'order-store||order:';

const parse = (data: string | null) => (data ? (JSON.parse(data) as Order) : undefined);

async function redisBackend(): Promise<Backend> {
  const server = await startRedis();
  const client = new Redis(server.port, '127.0.0.1');
  return {
    daprEnv: { ORDERS_REDIS_HOST: server.address },
    readPointer: async () => parse(await client.hget(POINTER_KEY, 'data')),
    readOrders: async () => {
      const keys = await client.keys(`${ORDER_PREFIX}*`);
      return Promise.all(keys.map(async (key) => parse(await client.hget(key, 'data'))!));
    },
    stop: async () => {
      client.disconnect();
      await server.stop();
    },
  };
}

/** The local stand-in for ElastiCache Serverless: three TLS-only primaries with a replica each, deploy/'s component. */
async function tlsClusterBackend(): Promise<Backend> {
  const cluster = await startRedisTlsCluster();
  const eks = eksStateStore(cluster);
  const client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { tls: { ca: readFileSync(cluster.caPath) }, username: cluster.client.username, password: cluster.client.password } });
  return {
    daprEnv: eks.daprEnv,
    resourcesPath: eks.resourcesPath,
    readPointer: async () => parse(await client.hget(POINTER_KEY, 'data')),
    readOrders: async () => {
      const keys = (await Promise.all(client.nodes('master').map((node) => scanKeys(node, `${ORDER_PREFIX}*`)))).flat();
      return Promise.all(keys.map(async (key) => parse(await client.hget(key, 'data'))!));
    },
    stop: async () => {
      client.disconnect();
      await cluster.stop();
    },
  };
}

const GENERATED = 300;
const BATCHES = 15;
const BATCH_SIZE = 8;

describe.each([
  { replicas: 2, backend: 'one Redis', start: redisBackend, cluster: false },
  { replicas: 3, backend: 'one Redis', start: redisBackend, cluster: false },
  { replicas: 3, backend: 'the ElastiCache Serverless stand-in (TLS cluster, a replica per primary)', start: tlsClusterBackend, cluster: true },
])('$replicas order-store replicas on $backend', ({ replicas, start, cluster }) => {
  const started: Array<{ stop(): Promise<unknown> }> = [];
  let backend: Backend;
  let stores: StoreReplica[];
  const storeLogs = Array.from({ length: replicas }, () => new LogCapture());
  const generatorLog = new LogCapture();
  /** Every order-store sidecar's output, whole. */
  const sidecarLog = new LogCapture();
  /** Direct orders, as each replica acknowledged them. */
  const acknowledged: Array<{ orderId: string; replica: number }> = [];
  /** The pointer as read from Redis after each batch. */
  const pointerAfterBatch: Array<Order | undefined> = [];
  /** Readers of the latest order for the whole run: the pointer in Redis, and GET /order round the replicas. */
  let watch: LatestWatch;
  /** Milliseconds from one replica acknowledging an order to another replica's GET /order showing it or a newer one. */
  const visibleAfterMs: number[] = [];

  const post = (replica: number, orderId: string) =>
    fetch(`${stores[replica]!.app.url}/neworder`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { orderId, customer: 'ada', items: [{ sku: 'oat-milk-1l', quantity: 1, unitPrice: 2.35 }], total: 2.35 } }),
    });
  const latestFrom = async (replica: number): Promise<Order | undefined> => {
    const res = await fetch(`${stores[replica]!.app.url}/order`);
    if (res.status === 404) return undefined;
    expect(res.status).toBe(200);
    return (await res.json()) as Order;
  };

  beforeAll(async () => {
    backend = await start();
    started.push(backend);
    const sentry = await startSentry({ dir: mkdtempSync(join(tmpdir(), 'orders-sentry-')) });
    started.push(sentry);
    const resources = backend.resourcesPath ? { resourcesPath: backend.resourcesPath } : {};
    stores = await startStoreReplicas(
      {
        replicas,
        sentry,
        daprEnv: backend.daprEnv,
        ...resources,
        storeEnv: { LOG_LEVEL: 'info' },
        echo: (replica) => storeLogs[replica],
        sidecarLogLevel: 'info',
        sidecarEcho: () => sidecarLog,
      },
      started,
    );
    const generatorSidecar = await startSidecar({ appId: generatorAppId, sentry, env: backend.daprEnv, ...resources });
    started.push(generatorSidecar);

    const generator = await startOrderGenerator({
      daprHttpPort: generatorSidecar.httpPort,
      env: { ORDERS_PER_SECOND: '100', ORDER_LIMIT: String(GENERATED), LOG_LEVEL: 'info' },
      echo: generatorLog,
    });
    started.push(generator);

    watch = new LatestWatch({ 'the pointer in Redis': () => backend.readPointer(), 'GET /order': latestThroughStores(() => stores.map(({ app }) => app.url)) }, 2);
    // While the generator runs: batches of direct orders, each order to a different replica.
    for (let batch = 0; batch < BATCHES; batch += 1) {
      const results = await Promise.all(
        Array.from({ length: BATCH_SIZE }, async (_, i) => {
          const replica = (batch + i) % replicas;
          const orderId = `direct-${batch}-${i}`;
          const res = await post(replica, orderId);
          expect({ orderId, status: res.status }).toEqual({ orderId, status: 201 });
          return { orderId, replica, at: Date.now() };
        }),
      );
      acknowledged.push(...results);
      pointerAfterBatch.push(await backend.readPointer());
      // How long the last order of the batch takes to show on another replica.
      const last = results.at(-1)!;
      const other = (last.replica + 1) % replicas;
      const stored = await fetch(`${stores[last.replica]!.app.url}/orders/${last.orderId}`).then((res) => res.json() as Promise<Order>);
      for (;;) {
        const seen = await latestFrom(other);
        if (seen && !isNewer(stored, seen)) break;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      visibleAfterMs.push(Date.now() - last.at);
    }
    expect(await generator.proc.exited).toBe(0);
    await watch.stop();
  });

  afterAll(async () => {
    await watch?.stop();
    await stopInReverse(started);
    expect(runningProcesses()).toEqual([]);
  });

  test('every order is stored once: the generator exited 0 with all confirmed, and every direct order was acknowledged', async () => {
    const stored = await backend.readOrders();
    const ids = stored.map((order) => order.orderId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith('direct-')).sort()).toEqual(acknowledged.map(({ orderId }) => orderId).sort());
    expect(ids.filter((id) => !id.startsWith('direct-'))).toHaveLength(GENERATED);
    expect(generatorLog.withMsg('order accepted')).toHaveLength(GENERATED);
  });

  test("order-generator's sidecar spread its orders over every replica", async () => {
    const generatedPerReplica = () => storeLogs.map((log) => log.withMsg('order created').filter((line) => !line.orderId?.startsWith('direct-')).length);
    // The apps write their log lines in batches, at least every 100 ms.
    await waitFor('every replica to log its last orders', async () => generatedPerReplica().reduce((sum, count) => sum + count, 0) === GENERATED, 2_000);
    for (const count of generatedPerReplica()) expect(count).toBeGreaterThan(0);
  });

  test('the pointer in Redis never went back from one batch to the next', () => {
    const seen = pointerAfterBatch.filter((order): order is Order => order !== undefined);
    expect(seen.length).toBeGreaterThan(BATCHES / 2);
    const wentBack = seen.flatMap((order, i) => (i > 0 && isNewer(seen[i - 1]!, order) ? [[seen[i - 1], order]] : []));
    expect(wentBack).toEqual([]);
  });

  test('neither a reader of the pointer in Redis nor one going round the replicas ever saw an older order than one it had seen', () => {
    // Enough reads to have gone round the replicas several times; how many more depends on the machine.
    expect(watch.reads['the pointer in Redis']).toBeGreaterThan(BATCHES);
    expect(watch.reads['GET /order']).toBeGreaterThan(replicas * 3);
    expect(watch.wentBack).toEqual([]);
  });

  test('once everything is written, the pointer and every replica hold the newest order stored', async () => {
    const newest = (await backend.readOrders()).reduce((a, b) => (isNewer(a, b) ? a : b));
    await waitFor('the pointer to reach the newest order', async () => (await backend.readPointer())?.orderId === newest.orderId, 5_000);
    for (let replica = 0; replica < replicas; replica += 1) expect(await latestFrom(replica)).toEqual(expect.objectContaining(newest));
    const sorted = [...visibleAfterMs].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    process.stdout.write(`[replicas=${replicas}] an order acknowledged by one replica showed on another's GET /order after p50 ${at(0.5)} ms, max ${sorted.at(-1)} ms (${sorted.length} orders, under load)\n`);
  });

  if (cluster) {
    test('no write crossed cluster slots: no CROSSSLOT (or redirect the client failed to follow) in any sidecar or replica', () => {
      expect(sidecarLog.withMsg('Component loaded: statestore (state.redis/v1)')).toHaveLength(replicas);
      const logs = [...sidecarLog.lines, ...storeLogs.flatMap((log) => log.lines)].map((line) => JSON.stringify(line.raw));
      expect(logs.filter((line) => /CROSSSLOT|\bMOVED\b|\bASK\b|CLUSTERDOWN/.test(line))).toEqual([]);
    });
  }
});
