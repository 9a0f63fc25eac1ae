import { topology } from '@orders/common';
import { type AppProcess, startOrderStore } from '../../harness/apps';
import { type Sidecar, startSidecar, storeAppId } from '../../harness/daprd';
import { eksStateStore } from '../../harness/eks-resources';
import { type RedisTlsCluster, startRedisTlsCluster, tlsCli } from '../../harness/redis-cluster';
import { clientAccessString } from '../../../infra/cdk/lib/cache';
import { freePort, runningProcesses } from '../../../dev/src/processes';

// The cache asks for a password, as the CDK app's user group makes ElastiCache Serverless do
// (infra/cdk/lib/cache.ts): one user, deploy/statestore.yaml's redisUsername, with a generated
// password and the same access string; no default user. The stand-in enforces that ACL.

describe('the ElastiCache Serverless stand-in admits only the client user, with its password', () => {
  let cluster: RedisTlsCluster;
  const stops: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    cluster = await startRedisTlsCluster({ masters: 3, replicasPerMaster: 0 });
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await cluster?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  const primary = () => cluster.ports[0]!;

  test('the client user is the one deploy/ names, with the access string the CDK app gives it', () => {
    expect(cluster.client.username).toBe(topology.orderStore.appId);
    expect(cluster.client.accessString).toBe(clientAccessString(topology.orderStore.appId));
  });

  test('a client without the password is refused', async () => {
    expect(await tlsCli(primary(), cluster.caPath, ['SET', `${storeAppId}||probe`, 'x'])).toMatch(/NOAUTH/);
    expect(await tlsCli(primary(), cluster.caPath, ['GET', `${storeAppId}||probe`])).toMatch(/NOAUTH/);
  });

  test('a client with a wrong password, or as another user, is refused', async () => {
    const signIn = (username: string, password: string) => tlsCli(primary(), cluster.caPath, ['AUTH', username, password]);
    expect(await signIn(cluster.client.username, 'not-the-password-0123456789')).toMatch(/WRONGPASS/);
    expect(await signIn('default', cluster.client.password)).toMatch(/WRONGPASS/);
    expect((await signIn(cluster.client.username, cluster.client.password)).trim()).toBe('OK');
    // A command after a failed sign-in still finds the connection unauthenticated.
    const wrong = { username: cluster.client.username, password: 'not-the-password-0123456789' };
    expect(await tlsCli(primary(), cluster.caPath, ['PING'], 5_000, undefined, wrong)).toMatch(/NOAUTH/);
  });

  test('with the password, only order-store\'s keys, and no dangerous command', async () => {
    expect((await cluster.cli(primary(), ['PING'])).trim()).toBe('PONG');
    expect(await cluster.cli(primary(), ['GET', 'someone-else||key'])).toMatch(/NOPERM/);
    expect(await cluster.cli(primary(), ['FLUSHALL'])).toMatch(/NOPERM/);
  });

  async function orderStoreWith(password: string): Promise<{ sidecar: Sidecar; store: AppProcess }> {
    const eks = eksStateStore(cluster, password);
    const port = await freePort();
    const sidecar = await startSidecar({ appId: storeAppId, appPort: port, resourcesPath: eks.resourcesPath, env: eks.daprEnv });
    stops.push(() => sidecar.stop());
    const store = await startOrderStore({ daprHttpPort: sidecar.httpPort, port });
    stops.push(() => store.stop());
    return { sidecar, store };
  }

  const post = (store: AppProcess, orderId: string) =>
    fetch(`${store.url}/neworder`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { orderId } }) });

  test("order-store's orders flow with the right password, read from the secret store as on EKS", async () => {
    const { store } = await orderStoreWith(cluster.client.password);
    expect((await post(store, 'with-password')).status).toBe(201);
    expect(await (await fetch(`${store.url}/orders/with-password`)).json()).toMatchObject({ orderId: 'with-password' });
    expect((await fetch(`${store.url}/readyz`)).status).toBe(200);
  });

  test('with a wrong password, the sidecar cannot use the cache: it does not start', async () => {
    // daprd initialises the state store (a PING) before it reports ready, and exits when that fails.
    await expect(orderStoreWith('a-wrong-password-0123456789abcdef')).rejects.toThrow(/WRONGPASS|invalid username-password/);
    expect(await cluster.cli(primary(), ['-c', 'EXISTS', `${storeAppId}||wrong-password`])).toMatch(/^0/);
  });
});
