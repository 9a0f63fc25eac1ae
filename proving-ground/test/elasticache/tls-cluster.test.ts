import { mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Cluster } from 'ioredis';
import { type AppProcess, startOrderStore } from '../../harness/apps';
import { type Sidecar, startSidecar, storeAppId } from '../../harness/daprd';
import { freePort, runningProcesses, within } from '../../../dev/src/processes';
import { type RedisTlsCluster, scanKeys, startRedisTlsCluster } from '../../harness/redis-cluster';
import { type Sentry, startSentry } from '../../../dev/src/sentry';
import { type K8sObject, parseManifest } from '../../../infra/cdk/lib/manifests';
import { DEPLOY_DIR, eksStateStore, resourcesDir } from '../../harness/eks-resources';

// ElastiCache Serverless, reproduced locally: a Redis Cluster of three primaries with a replica
// each, that speaks only TLS and refuses what a serverless cache refuses (harness/redis-cluster.ts),
// behind the very component deploy/statestore.yaml declares for EKS (TLS on, redisType cluster),
// with nothing changed but the endpoint, substituted the way the CDK app does it.

const STATE_STORE = 'statestore';

type ComponentSpec = { type: string; metadata: { name: string; value?: string; secretKeyRef?: { name: string; key: string } }[] };
const specOf = (component: K8sObject) => component.spec as ComponentSpec;
const metadataValue = (component: K8sObject, name: string) => specOf(component).metadata.find((item) => item.name === name)?.value;

/** Everything a process prints, for searching it whole (Proc.output() keeps only the tail). */
function transcript(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

/** What a plaintext client gets back from a TCP port: the bytes until the server closes, or null if it cannot connect. */
function plaintextExchange(port: number, request: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (value: string | null) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(3_000, () => done(received));
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('end', () => done(received));
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? null : received));
  });
}

// Fixed ids, so that the keys' slots, and the masters serving them, are the same on every run.
const ORDER_IDS = Array.from({ length: 30 }, (_, i) => `eks-tls-${i + 1}`);
// Dapr's Redis state store keeps each key as a hash under `<app-id>||<key>`, the value in `data`.
const redisKey = (key: string) => `${storeAppId}||${key}`;

describe('order-store on the EKS state store component against a TLS Redis Cluster (ElastiCache semantics)', () => {
  let cluster: RedisTlsCluster;
  let sentry: Sentry;
  let sidecar: Sidecar;
  let store: AppProcess;
  let redis: Cluster;
  let component: K8sObject;
  let secretStore: K8sObject;
  let resources: string;
  const sidecarLog = transcript();
  const storeLog = transcript();

  beforeAll(async () => {
    cluster = await startRedisTlsCluster();
    const eks = eksStateStore(cluster);
    component = eks.component;
    secretStore = eks.secretStore;
    resources = eks.resourcesPath;
    sentry = await startSentry({ dir: mkdtempSync(join(tmpdir(), 'orders-sentry-')) });
    const storePort = await freePort();
    sidecar = await startSidecar({
      appId: storeAppId,
      appPort: storePort,
      sentry,
      resourcesPath: resources,
      env: eks.daprEnv,
      logLevel: 'info',
      echo: sidecarLog.stream,
    });
    store = await startOrderStore({ daprHttpPort: sidecar.httpPort, port: storePort, env: { LOG_LEVEL: 'info' }, echo: storeLog.stream });
    redis = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })), {
      redisOptions: { tls: { ca: readFileSync(cluster.caPath) }, username: cluster.client.username, password: cluster.client.password },
      lazyConnect: true,
    });
    await redis.connect();
  });

  afterAll(async () => {
    redis?.disconnect();
    await store?.stop();
    await sidecar?.stop();
    await sentry?.stop();
    await cluster?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  test('the sidecar loaded the EKS component unchanged but for its endpoint and its password\'s secret store: TLS on, cluster mode', async () => {
    const eks = parseManifest(join(DEPLOY_DIR, 'statestore.yaml'))[0]!;
    const passwordRef = specOf(component).metadata.find((item) => item.name === 'redisPassword')?.secretKeyRef;
    expect(specOf(component)).toEqual({
      ...specOf(eks),
      metadata: specOf(eks).metadata.map((item) =>
        item.name === 'redisHost' ? { ...item, value: cluster.address } : item.name === 'redisPassword' ? { ...item, secretKeyRef: passwordRef } : item,
      ),
    });
    expect(component.scopes).toEqual(eks.scopes);
    expect(metadataValue(component, 'enableTLS')).toBe('true');
    expect(metadataValue(component, 'redisType')).toBe('cluster');
    expect(metadataValue(component, 'insecureSkipTLSVerify')).toBeUndefined();

    const metadata = (await (await fetch(`${sidecar.api}/metadata`)).json()) as { components?: { name: string; type: string }[] };
    expect(metadata.components).toEqual(expect.arrayContaining([expect.objectContaining({ name: STATE_STORE, type: 'state.redis' })]));
    expect((await fetch(`${store.url}/readyz`)).status).toBe(200);
  });

  test('orders are accepted and read back through the app, keys in many slots', async () => {
    for (const orderId of ORDER_IDS) {
      const res = await fetch(`${store.url}/neworder`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: { orderId, customer: 'ada', items: [{ sku: 'oat-milk-1l', quantity: 2, unitPrice: 2.35 }], total: 4.7 } }),
      });
      expect({ orderId, status: res.status }).toEqual({ orderId, status: 201 });
    }
    for (const orderId of ORDER_IDS) {
      const res = await fetch(`${store.url}/orders/${orderId}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ orderId, customer: 'ada', total: 4.7 });
    }
    const latest = await fetch(`${store.url}/order`);
    expect(latest.status).toBe(200);
    expect(await latest.json()).toMatchObject({ orderId: ORDER_IDS.at(-1) });

    const slots = new Set<string>();
    for (const orderId of ORDER_IDS) {
      slots.add((await cluster.cli(cluster.ports[0]!, ['CLUSTER', 'KEYSLOT', redisKey(`order:${orderId}`)])).trim());
    }
    expect(slots.size).toBeGreaterThan(20);
  });

  test('the cluster holds every order, spread over all three masters', async () => {
    for (const orderId of ORDER_IDS) {
      const data = await redis.hget(redisKey(`order:${orderId}`), 'data');
      expect(JSON.parse(data ?? 'null')).toMatchObject({ orderId, total: 4.7 });
      expect(await redis.hget(redisKey(`order:${orderId}`), 'version')).toBe('1');
    }
    expect(JSON.parse((await redis.hget(redisKey('latest-order'), 'data')) ?? 'null')).toMatchObject({ orderId: ORDER_IDS.at(-1) });

    const masters = redis.nodes('master');
    expect(masters).toHaveLength(3);
    const perMaster = await Promise.all(masters.map((node) => scanKeys(node, redisKey('order:eks-tls-*'))));
    for (const keys of perMaster) expect(keys.length).toBeGreaterThan(0);
    expect(perMaster.flat().sort()).toEqual(ORDER_IDS.map((id) => redisKey(`order:${id}`)).sort());
  });

  test('no CROSSSLOT (or any redirect the client failed to follow) in the sidecar or the app', () => {
    expect(sidecarLog.text()).toContain('Component loaded: statestore (state.redis/v1)');
    expect(sidecarLog.text()).toContain('Loading Resiliency configuration: orders-resiliency');
    for (const log of [sidecarLog.text(), storeLog.text()]) {
      expect(log).not.toMatch(/CROSSSLOT|\bMOVED\b|\bASK\b|CLUSTERDOWN/);
    }
    expect(storeLog.text()).not.toMatch(/"level":(50|60)/);
  });

  test('no plaintext: the nodes have no plaintext port, and plaintext on a TLS port gets no Redis answer', async () => {
    for (const port of [...cluster.ports, ...cluster.replicaPorts]) {
      // CONFIG is refused to clients, as on ElastiCache; the stand-in's own user may read it.
      expect(await cluster.adminCli(port, ['CONFIG', 'GET', 'port'])).toBe('port\n0\n');
      expect(await cluster.adminCli(port, ['CONFIG', 'GET', 'tls-cluster'])).toBe('tls-cluster\nyes\n');
      expect(await cluster.adminCli(port, ['CONFIG', 'GET', 'tls-replication'])).toBe('tls-replication\nyes\n');
      const answer = await plaintextExchange(port, 'PING\r\n');
      expect(answer).not.toBeNull();
      expect(answer).not.toMatch(/PONG|^[+\-:$*]/);
    }
  });

  /**
   * Starts a sidecar that must not come up, and resolves with what it printed. daprd's health
   * endpoint may answer for a moment before a fatal component error ends it, so whether or not
   * startSidecar saw it exit, the process must be gone with a failure code.
   */
  async function failingSidecar(options: { resourcesPath: string; env: NodeJS.ProcessEnv }): Promise<string> {
    const log = transcript();
    const started = await startSidecar({ appId: storeAppId, sentry, ...options, echo: log.stream }).catch((error: unknown) => error);
    if (started instanceof Error) {
      expect(started.message).toMatch(/exited while waiting/);
    } else {
      const sidecar = started as Sidecar;
      const outcome = await within(sidecar.proc.exited, 15_000);
      await sidecar.stop();
      expect(outcome).toEqual(expect.any(Number));
      expect(outcome).not.toBe(0);
    }
    expect(log.text()).toMatch(/"level":"fatal".*process component statestore error/);
    return log.text();
  }

  test('the sidecar cannot use the cache without TLS: enableTLS false fails the component', async () => {
    const plaintext = structuredClone(component);
    specOf(plaintext).metadata = specOf(plaintext).metadata.map((item) => (item.name === 'enableTLS' ? { ...item, value: 'false' } : item));
    const log = await failingSidecar({ resourcesPath: resourcesDir([secretStore, plaintext]), env: { SSL_CERT_FILE: cluster.caPath } });
    // A plaintext PING on a TLS port: the server drops the connection without a Redis answer.
    expect(log).toMatch(/error connecting to redis at 127\.0\.0\.1:\d+: EOF/);
  });

  test('the sidecar verifies the cache certificate: without our CA in its roots it refuses the cache', async () => {
    // This machine's own roots, as a pod has its image's: our fresh CA is not among them.
    const { SSL_CERT_FILE: _ours, ...env } = process.env;
    const log = await failingSidecar({ resourcesPath: resources, env });
    expect(log).toMatch(/certificate signed by unknown authority/);
  });
});
