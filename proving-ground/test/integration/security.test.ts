import Redis from 'ioredis';
import { type Sidecar, startSidecar } from '../../harness/daprd';
import { runningProcesses } from '../../../dev/src/processes';
import { type OrderSystem, startOrderSystem } from '../../harness/order-system';

describe('sidecar-to-sidecar traffic is mTLS with access control', () => {
  let system: OrderSystem;
  let redis: Redis;
  const extraSidecars: Sidecar[] = [];

  beforeAll(async () => {
    system = await startOrderSystem();
    redis = new Redis(system.redis.port, '127.0.0.1');
  });

  afterAll(async () => {
    redis?.disconnect();
    for (const sidecar of extraSidecars) await sidecar.stop();
    await system?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  const invoke = (sidecar: Sidecar, method: string, init: RequestInit = {}) =>
    fetch(`${sidecar.api}/invoke/order-store/method/${method}`, init);
  const postOrder = (sidecar: Sidecar, orderId: string) =>
    invoke(sidecar, 'neworder', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { orderId } }),
    });
  const stored = async (orderId: string) => (await redis.exists(`order-store||order:${orderId}`)) === 1;

  test('order-generator may POST neworder through the two sidecars', async () => {
    const res = await postOrder(system.generatorSidecar, 'via-sidecar');
    expect(res.status).toBe(201);
    expect(await stored('via-sidecar')).toBe(true);
  });

  test("the store's sidecar judges the caller by its SPIFFE identity: every other operation is denied", async () => {
    const res = await invoke(system.generatorSidecar, 'order');
    expect(res.status).toBe(403);
    const body = (await res.json()) as { message: string };
    expect(body.message).toContain('spiffe://public/ns/default/order-generator');
    expect(body.message).toMatch(/access control policy has denied access/);
  });

  test('a sidecar with another app id, though it has a Sentry-issued identity, is denied', async () => {
    const intruder = await startSidecar({ appId: 'intruder', sentry: system.sentry, env: { ORDERS_REDIS_HOST: system.redis.address } });
    extraSidecars.push(intruder);
    const res = await postOrder(intruder, 'from-intruder');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toContain('spiffe://public/ns/default/intruder');
    expect(await stored('from-intruder')).toBe(false);
  });

  test('a sidecar without a Sentry-issued identity cannot reach the store, even under the allowed app id', async () => {
    const impostor = await startSidecar({ appId: 'order-generator', env: { ORDERS_REDIS_HOST: system.redis.address } });
    extraSidecars.push(impostor);
    const res = await postOrder(impostor, 'from-impostor');
    expect(res.ok).toBe(false);
    expect(await stored('from-impostor')).toBe(false);
  });

  test("order-generator's sidecar cannot use the state store: the component is scoped to order-store", async () => {
    const write = await fetch(`${system.generatorSidecar.api}/state/statestore`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ key: 'order:forged', value: { orderId: 'forged' } }]),
    });
    expect(write.status).toBeGreaterThanOrEqual(400);
    const read = await fetch(`${system.generatorSidecar.api}/state/statestore/latest-order`);
    expect(read.status).toBeGreaterThanOrEqual(400);
    expect(await redis.keys('*forged*')).toEqual([]);
  });
});

describe('with tokens on, as the CDK app deploys it: writes from outside need the bearer token', () => {
  const appApiToken = 'app-api-token-0123456789abcdef';
  const writeToken = 'write-token-0123456789abcdef';
  let system: OrderSystem;

  beforeAll(async () => {
    system = await startOrderSystem({ appApiToken, storeEnv: { WRITE_TOKEN: writeToken } });
  });

  afterAll(async () => {
    await system?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  const direct = (orderId: string, headers: Record<string, string> = {}) =>
    fetch(`${system.store.url}/neworder`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ data: { orderId } }),
    });

  test("order-generator's path needs no bearer token: the store's sidecar proves itself with Dapr's app API token", async () => {
    const res = await fetch(`${system.generatorSidecar.api}/invoke/order-store/method/neworder`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { orderId: 'through-sidecars' } }),
    });
    expect(res.status).toBe(201);
  });

  test('a direct write without the token, or with a wrong one, is a 401; with it, a 201', async () => {
    const without = await direct('no-token');
    expect(without.status).toBe(401);
    expect(((await without.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await direct('wrong-token', { authorization: 'Bearer not-the-token-at-all-123' })).status).toBe(401);
    expect((await direct('forged-app-token', { 'dapr-api-token': 'not-the-app-token-12345' })).status).toBe(401);
    expect((await direct('with-token', { authorization: `Bearer ${writeToken}` })).status).toBe(201);
  });

  test('reads stay open', async () => {
    expect((await fetch(`${system.store.url}/orders/with-token`)).status).toBe(200);
    expect((await fetch(`${system.store.url}/order`)).status).toBe(200);
  });
});
