import { ATTEMPT_HEADER } from '@orders/contract';
import Redis from 'ioredis';
import { runningProcesses, waitFor } from '../../../dev/src/processes';
import { type OrderSystem, startOrderSystem } from '../../harness/order-system';

// Dapr's Redis state store keeps each key as a hash under `<app-id>||<key>`, the value in `data`.
const orderKey = (orderId: string) => `order-store||order:${orderId}`;

const ORDER_COUNT = 20;

describe('orders flow through real Dapr sidecars into Redis', () => {
  let system: OrderSystem;
  let redis: Redis;

  beforeAll(async () => {
    system = await startOrderSystem({ generator: { ORDERS_PER_SECOND: '40', ORDER_LIMIT: String(ORDER_COUNT) } });
    redis = new Redis(system.redis.port, '127.0.0.1', { lazyConnect: true });
    await redis.connect();
  });

  afterAll(async () => {
    redis?.disconnect();
    await system?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  const post = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${system.store.url}/neworder`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const storedKeys = () => redis.keys('order-store||*');

  test('every generated order is stored once, in Redis, and the generator exits 0', async () => {
    expect(await system.generator!.proc.exited).toBe(0);
    const keys = (await storedKeys()).filter((key) => key.startsWith('order-store||order:'));
    expect(keys).toHaveLength(ORDER_COUNT);
    for (const key of keys) {
      const stored = JSON.parse((await redis.hget(key, 'data'))!) as { orderId: string; total: number; acceptedAt: string };
      expect(key).toBe(orderKey(stored.orderId));
      expect(stored.total).toBeGreaterThan(0);
      expect(Date.parse(stored.acceptedAt)).not.toBeNaN();
    }
  });

  test('GET /order and GET /orders/:orderId answer with what Redis holds', async () => {
    const latest = (await (await fetch(`${system.store.url}/order`)).json()) as { orderId: string; acceptedAt: string };
    // The pointer follows the orders within an interval (LatestPointer); GET /order does not wait for it.
    const pointer = async () => JSON.parse((await redis.hget('order-store||latest-order', 'data')) ?? 'null') as unknown;
    const pointerIsLatest = async () => {
      try {
        expect(await pointer()).toEqual(latest);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor('the latest-order pointer to reach the last order', pointerIsLatest, 5_000);
    expect(await pointer()).toEqual(latest);
    for (const key of await storedKeys()) {
      if (!key.startsWith('order-store||order:')) continue;
      const stored = JSON.parse((await redis.hget(key, 'data'))!) as { orderId: string; acceptedAt: string };
      const res = await fetch(`${system.store.url}/orders/${stored.orderId}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(stored);
      expect(stored.acceptedAt <= latest.acceptedAt).toBe(true);
    }
    expect((await fetch(`${system.store.url}/orders/never-sent`)).status).toBe(404);
  });

  test('a resent order is stored once; the same id with other content is a 409', async () => {
    const order = { data: { orderId: 'resend-1', customer: 'ada', items: [{ sku: 'oat-milk-1l', quantity: 2, unitPrice: 2.35 }], total: 4.7 } };
    const first = await post(order);
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ orderId: 'resend-1' });
    const again = await post(order);
    expect(again.status).toBe(200);
    // The generator marks its resends; the store then looks before it writes.
    const marked = await post(order, { 'content-type': 'application/json', [ATTEMPT_HEADER]: '2' });
    expect(marked.status).toBe(200);
    const stored = await redis.hgetall(orderKey('resend-1'));
    expect(stored.version).toBe('1');

    const conflict = await post({ data: { ...order.data, customer: 'grace' } });
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { error: { code: string } }).error.code).toBe('order_conflict');
    expect((JSON.parse((await redis.hget(orderKey('resend-1'), 'data'))!) as { customer: string }).customer).toBe('ada');

    // An integer id is the same order as its string form.
    expect((await post({ data: { orderId: 777 } })).status).toBe(201);
    expect((await post({ data: { orderId: '777' } })).status).toBe(200);
    expect(await (await fetch(`${system.store.url}/order`)).json()).toMatchObject({ orderId: '777' });
  });

  test.each([
    ['malformed JSON', '{"data":{"orderId":', 400, 'malformed_json'],
    ['a wrong type', { data: { orderId: true } }, 400, 'invalid_order'],
    ['a missing orderId', { data: { customer: 'ada' } }, 400, 'invalid_order'],
    ['an unknown field', { data: { orderId: 'x1', coupon: 'FREE' } }, 400, 'invalid_order'],
    ['an id with a slash', { data: { orderId: 'a/b' } }, 400, 'invalid_order'],
    ['a total that does not add up', { data: { orderId: 'x2', items: [{ sku: 'a', quantity: 1, unitPrice: 1 }], total: 2 } }, 400, 'invalid_order'],
    ['a body over the limit', { data: { orderId: 'x3', customer: 'a'.repeat(20_000) } }, 413, 'body_too_large'],
  ])('%s gets %i and writes nothing', async (_name, body, status, code) => {
    const before = (await storedKeys()).sort();
    const res = await post(body);
    expect(res.status).toBe(status);
    const answer = (await res.json()) as { error: { code: string; message: string; details: unknown[] } };
    expect(answer.error.code).toBe(code);
    expect(answer.error.message).toEqual(expect.any(String));
    expect((await storedKeys()).sort()).toEqual(before);
  });

  test('a body that is not JSON gets 415 and writes nothing', async () => {
    const before = (await storedKeys()).sort();
    const res = await post('orderId=42', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    expect((await storedKeys()).sort()).toEqual(before);
  });

  test('the state store going away is a 503 with Retry-After, and readiness follows it', async () => {
    expect((await fetch(`${system.store.url}/readyz`)).status).toBe(200);
    await system.redis.stop();
    const res = await post({ data: { orderId: 'while-redis-is-down' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('state_unavailable');
    expect((await fetch(`${system.store.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${system.store.url}/healthz`)).status).toBe(200);
  });
});
