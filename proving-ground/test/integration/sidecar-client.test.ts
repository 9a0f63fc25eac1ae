import { expect } from '@jest/globals';
import { type Server, createServer } from 'node:http';
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import { DaprHttpError, DaprSidecar, DaprUnreachableError, topology } from '@orders/common';
import { NEW_ORDER_METHOD } from '@orders/contract';
import { newOrder } from '../../../apps/order-generator/src/new-order';
import { daprSender } from '../../../apps/order-generator/src/sender';
import { OrderBook } from '../../../apps/order-store/src/orders';
import { DaprOrderState } from '../../../apps/order-store/src/state';
import { type Sidecar, startSidecar, storeAppId } from '../../harness/daprd';
import { freePort, runningProcesses } from '../../../dev/src/processes';
import { type RedisServer, startRedis } from '../../../dev/src/redis';

const API_TOKEN = 'sidecar-client-test-token';
const store = topology.stateStore;

/**
 * The app behind the sidecar: healthy, answers /teapot with 418, /refuse with 400, /unavailable
 * with 503, and never answers /stall.
 */
function startApp(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') res.writeHead(200).end('ok');
    else if (req.url === '/teapot') res.writeHead(418, { 'content-type': 'text/plain' }).end('short and stout');
    else if (req.url === '/refuse') res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"invalid_order"}}');
    else if (req.url === '/unavailable') res.writeHead(503).end('try later');
    // /stall: keep the request open until the test ends.
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

describe('DaprSidecar (the Dapr JS SDK adapter) against a real daprd', () => {
  let redis: RedisServer;
  let app: Server;
  let daprd: Sidecar;
  let sidecar: DaprSidecar;

  beforeAll(async () => {
    redis = await startRedis();
    const appPort = await freePort();
    app = await startApp(appPort);
    daprd = await startSidecar({
      appId: storeAppId,
      appPort,
      env: { ORDERS_REDIS_HOST: redis.address, DAPR_API_TOKEN: API_TOKEN },
    });
    sidecar = new DaprSidecar({ host: '127.0.0.1', httpPort: daprd.httpPort, apiToken: API_TOKEN });
  });

  afterAll(async () => {
    sidecar?.close();
    app?.closeAllConnections();
    app?.close();
    await daprd?.stop();
    await redis?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  test('is ready once the sidecar is', async () => {
    expect(await sidecar.isReady()).toBe(true);
  });

  test('saves and reads back a value; an absent key reads as undefined', async () => {
    const value = { orderId: 'client-1', items: [{ sku: 'a', quantity: 2 }] };
    await sidecar.saveState(store, [{ key: 'client-1', value }]);
    expect(await sidecar.getState(store, 'client-1')).toEqual(value);
    expect(await sidecar.getState(store, 'never-written')).toBeUndefined();
  });

  test('a first-write save with an ETag that never matches writes once, then answers 409', async () => {
    const insert = (value: string) =>
      sidecar.saveState(store, [{ key: 'client-once', value, etag: '-1', options: { concurrency: 'first-write' } }]);
    await insert('first');
    const refused = await insert('second').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DaprHttpError);
    expect(refused).toMatchObject({ status: 409 });
    expect(await sidecar.getState(store, 'client-once')).toBe('first');
  });

  test("invoke hands back the app's own status and body", async () => {
    const res = await sidecar.invoke(storeAppId, 'teapot', { hello: 'world' });
    expect(res).toMatchObject({ status: 418, body: 'short and stout' });
  });

  test('a stored value comes with its ETag, and a write naming that ETag replaces it once', async () => {
    expect(await sidecar.getStateEntry(store, 'client-cas')).toBeUndefined();
    await sidecar.saveState(store, [{ key: 'client-cas', value: { n: 1 } }]);
    const entry = await sidecar.getStateEntry(store, 'client-cas');
    expect(entry).toEqual({ value: { n: 1 }, etag: expect.any(String) });
    const replace = (n: number) =>
      sidecar.saveState(store, [{ key: 'client-cas', value: { n }, etag: entry!.etag, options: { concurrency: 'first-write', consistency: 'strong' } }]);
    await replace(2);
    // The ETag moved on with that write: the same compare-and-set again is refused.
    await expect(replace(3)).rejects.toMatchObject({ name: 'DaprHttpError', status: 409 });
    expect(await sidecar.getState(store, 'client-cas')).toEqual({ n: 2 });
  });

  // What each kind of answer leads to in the apps, through the adapter and the real sidecar.
  describe('error mapping', () => {
    test('an ETag mismatch (409) is the duplicate path: a resent order is reported, not stored twice', async () => {
      const state = new DaprOrderState(sidecar, store);
      const book = new OrderBook(state);
      const order = { orderId: 'mapping-1', customer: 'ada' };
      expect(await book.accept(order)).toBe('created');
      expect(await book.accept(order)).toBe('duplicate');
      expect(await book.accept({ ...order, customer: 'grace' })).toBe('conflict');
      expect(await state.insert({ ...order, acceptedAt: new Date().toISOString() })).toBe(false);
      await book.flushLatest();
    });

    test('a 4xx from the store drops the order: order-generator does not send it again', async () => {
      const send = daprSender(sidecar, storeAppId, 'refuse', 5_000);
      expect(await send(newOrder('mapping-2'), 1)).toEqual({ kind: 'rejected', status: 400, reason: '{"error":{"code":"invalid_order"}}' });
    });

    // One call: the resiliency policy retries it three times.
    test('a 5xx is retried by order-generator', async () => {
      const send = daprSender(sidecar, storeAppId, 'unavailable', 20_000);
      const delivery = await send(newOrder('mapping-3'), 1);
      expect(delivery).toMatchObject({ kind: 'retry' });
      expect(delivery.kind === 'retry' && delivery.status).toBeGreaterThanOrEqual(500);
      // A success closes the run of failures again.
      expect((await sidecar.invoke(storeAppId, 'teapot', {})).status).toBe(418);
    });

    test('no sidecar at all is retried too', async () => {
      const nowhere = new DaprSidecar({ host: '127.0.0.1', httpPort: await freePort() });
      try {
        expect(await daprSender(nowhere, storeAppId, NEW_ORDER_METHOD, 2_000)(newOrder('mapping-4'), 1)).toMatchObject({ kind: 'retry' });
      } finally {
        nowhere.close();
      }
    });
  });

  test('a call without the API token is refused with 401', async () => {
    const anonymous = new DaprSidecar({ host: '127.0.0.1', httpPort: daprd.httpPort });
    try {
      const refused = await anonymous.getState(store, 'client-1').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DaprHttpError);
      expect(refused).toMatchObject({ status: 401 });
    } finally {
      anonymous.close();
    }
  });

  test('a call that gets no answer in time is given up on', async () => {
    const started = Date.now();
    const stalled = await sidecar.invoke(storeAppId, 'stall', {}, { timeoutMs: 300 }).catch((error: unknown) => error);
    expect(stalled).toBeInstanceOf(DaprUnreachableError);
    expect(String(stalled)).toContain('no answer within 300ms');
    expect(Date.now() - started).toBeLessThan(5_000);
    // The abandoned call did not spoil the pool: the next one is answered.
    expect((await sidecar.invoke(storeAppId, 'teapot', {})).status).toBe(418);
  });

  // Users' other services may well use the Dapr JS SDK: what one writes, the other reads.
  test('speaks the same state API as the Dapr JS SDK', async () => {
    const sdk = new DaprClient({
      daprHost: '127.0.0.1',
      daprPort: String(daprd.httpPort),
      daprApiToken: API_TOKEN,
      communicationProtocol: CommunicationProtocolEnum.HTTP,
      logger: { level: LogLevel.Error },
    });
    const order = { orderId: 'interop-1', total: 2.35, acceptedAt: new Date().toISOString() };
    await sidecar.saveState(store, [{ key: 'order:interop-1', value: order }]);
    expect(await sdk.state.get(store, 'order:interop-1')).toEqual(order);
    await sdk.state.save(store, [{ key: 'order:interop-2', value: { ...order, orderId: 'interop-2' } }]);
    expect(await sidecar.getState(store, 'order:interop-2')).toEqual({ ...order, orderId: 'interop-2' });
  });

  test('a sidecar that is not there is reported as unreachable, and as not ready', async () => {
    const nowhere = new DaprSidecar({ host: '127.0.0.1', httpPort: await freePort() });
    try {
      await expect(nowhere.getState(store, 'x')).rejects.toBeInstanceOf(DaprUnreachableError);
      expect(await nowhere.isReady(500)).toBe(false);
    } finally {
      nowhere.close();
    }
  });
});
