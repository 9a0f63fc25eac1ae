import { DaprSidecar, topology } from '@orders/common';
import { OrderBook } from '../../../apps/order-store/src/orders';
import { DaprOrderState } from '../../../apps/order-store/src/state';
import { scrape } from '../../bench/dapr-metrics';
import { type Sidecar, startSidecar, storeAppId } from '../../harness/daprd';
import { runningProcesses } from '../../../dev/src/processes';
import { type RedisServer, startRedis } from '../../../dev/src/redis';

/** POST /v1.0/state/<store> requests the sidecar has answered (with that status), from its own metrics; bulk reads count too. */
async function stateWrites(sidecar: Sidecar, status?: number): Promise<number> {
  let total = 0;
  for (const [series, value] of await scrape(sidecar.metricsPort)) {
    if (
      series.startsWith('dapr_http_server_latency_count{') &&
      series.includes(`path="/v1.0/state/${topology.stateStore}"`) &&
      series.includes('method="POST"') &&
      (status === undefined || series.includes(`status="${status}"`))
    ) {
      total += value;
    }
  }
  return total;
}

describe('order-store writes the orders of one event-loop turn in one state request (real daprd and Redis)', () => {
  let redis: RedisServer;
  let daprd: Sidecar;
  let sidecar: DaprSidecar;
  let state: DaprOrderState;
  let book: OrderBook;

  beforeAll(async () => {
    redis = await startRedis();
    daprd = await startSidecar({ appId: storeAppId, env: { ORDERS_REDIS_HOST: redis.address } });
    sidecar = new DaprSidecar({ host: '127.0.0.1', httpPort: daprd.httpPort });
    state = new DaprOrderState(sidecar, topology.stateStore);
    book = new OrderBook(state);
  });

  afterAll(async () => {
    sidecar?.close();
    await daprd?.stop();
    await redis?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  test('ten orders accepted together are all created and stored, in one state request', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
    // Saves that succeeded answer 204. daprd counts a bulk read (POST .../bulk, answered 200, how
    // the SDK adapter reads a value with its ETag) under the same path, so the status tells them apart.
    const before = await stateWrites(daprd, 204);
    const outcomes = await Promise.all(ids.map((orderId) => book.accept({ orderId, customer: `customer ${orderId}` })));
    await book.flushLatest();
    expect(outcomes).toEqual(ids.map(() => 'created'));
    for (const orderId of ids) expect(await state.get(orderId)).toMatchObject({ orderId, customer: `customer ${orderId}` });
    // One request for the ten orders, one for the latest-order pointer.
    expect((await stateWrites(daprd, 204)) - before).toBe(2);
  });

  test('in a batch that meets stored orders, new ones are created, a resend is a duplicate and other content a conflict', async () => {
    await book.accept({ orderId: 'kept-1', customer: 'ada' });
    await book.accept({ orderId: 'kept-2', customer: 'grace' });
    const kept2 = await state.get('kept-2');
    const refusedBefore = await stateWrites(daprd, 409);
    const outcomes = await Promise.all([
      book.accept({ orderId: 'fresh-1', customer: 'alan' }),
      book.accept({ orderId: 'kept-1', customer: 'ada' }),
      book.accept({ orderId: 'fresh-2', customer: 'edsger' }),
      book.accept({ orderId: 'kept-2', customer: 'someone else' }),
    ]);
    expect(outcomes).toEqual(['created', 'duplicate', 'created', 'conflict']);
    expect(await state.get('fresh-1')).toMatchObject({ customer: 'alan' });
    expect(await state.get('fresh-2')).toMatchObject({ customer: 'edsger' });
    expect(await state.get('kept-2')).toEqual(kept2);
    // Only the batch itself was refused: what it stored is read back, not inserted again, since
    // every refusal counts towards the circuit breaker (five in a row open it).
    expect((await stateWrites(daprd, 409)) - refusedBefore).toBe(1);
    await book.flushLatest();
  });
});
