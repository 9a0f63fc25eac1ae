import { expect } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Redis from 'ioredis';
import { type Sidecar, generatorAppId, startSidecar, storeAppId } from '../../harness/daprd';
import { type ImageApp, type ImageArtifact, buildImageArtifact, startImage } from '../../harness/image';
import { type Proc, answers, awaitReady, freePort, runningProcesses, within } from '../../../dev/src/processes';
import { type RedisServer, startRedis } from '../../../dev/src/redis';
import { type Sentry, startSentry } from '../../../dev/src/sentry';

// No Docker engine runs here, so this tests what the images would run: the Dockerfile replayed
// outside Docker for each app (harness/image.ts), its final stage started the way CMD starts it,
// from its WORKDIR, with its ENV only, as its USER; both images in one order path, through real sidecars.

const BUILD_TIMEOUT_MS = 240_000;
const APPS: ImageApp[] = ['order-store', 'order-generator'];

/** Every file under `dir`, relative to it, sorted. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const uidOf = (pid: number) => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

describe('the apps as their images run them (the Dockerfile replayed without Docker)', () => {
  const artifacts = new Map<ImageApp, ImageArtifact>();
  const artifact = (app: ImageApp) => artifacts.get(app)!;
  let redis: RedisServer | undefined;
  let sentry: Sentry | undefined;
  let storeSidecar: Sidecar | undefined;
  let generatorSidecar: Sidecar | undefined;
  let store: Proc | undefined;
  let storeUrl: string;

  beforeAll(async () => {
    for (const app of APPS) {
      const started = Date.now();
      artifacts.set(app, await buildImageArtifact(app));
      process.stdout.write(`${app} image replayed in ${Date.now() - started}ms ${JSON.stringify(artifact(app).timings)}\n`);
    }
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await store?.stop(15_000);
    await generatorSidecar?.stop();
    await storeSidecar?.stop();
    await sentry?.stop();
    await redis?.stop();
    for (const built of artifacts.values()) built.remove();
    expect(runningProcesses()).toEqual([]);
  });

  describe.each(APPS)('%s', (app) => {
    test('the final stage holds the bundle and nothing else: no node_modules, no sources', () => {
      const built = artifact(app);
      expect(built.imageWorkdir).toBe(`/app/apps/${app}`);
      expect([built.cmd[0], built.cmd.at(-1)]).toEqual(['node', 'dist/bundle.js']);
      expect(built.env).toEqual({ NODE_ENV: 'production' });
      expect(built.user).toEqual({ uid: 1000, gid: 1000 });
      expect(filesUnder(join(built.root, 'app'))).toEqual([`apps/${app}/dist/bundle.js`]);
    });

    test('the bundle holds what the app loads and no devDependency, and starts without a warning', async () => {
      const bundle = readFileSync(join(artifact(app).workdir, 'dist/bundle.js'), 'utf8');
      // Each package leaves its path in esbuild's per-module comments.
      for (const loaded of ['node_modules/@dapr/dapr/', 'node_modules/pino/', 'node_modules/zod/', 'packages/common/dist/src/', 'packages/contract/dist/']) {
        expect({ loaded, bundled: bundle.includes(loaded) }).toEqual({ loaded, bundled: true });
      }
      for (const dev of ['node_modules/typescript/', 'node_modules/jest', 'node_modules/tsx/', 'node_modules/ioredis/', 'node_modules/esbuild/']) {
        expect({ dev, bundled: bundle.includes(dev) }).toEqual({ dev, bundled: false });
      }
      const port = await freePort();
      const proc = startImage(artifact(app), { PORT: String(port), DAPR_HTTP_PORT: String(await freePort()) });
      try {
        await awaitReady(proc, `the ${app} image /healthz`, () => answers(`http://127.0.0.1:${port}/healthz`));
      } finally {
        await proc.stop(5_000);
      }
      expect(proc.output()).not.toMatch(/Warning/);
    });

    test('a bad setting stops it at once with a non-zero exit naming the setting', async () => {
      const proc = startImage(artifact(app), { PORT: 'abc' });
      // Exits by itself (a signal would be -1), with the settings error's code.
      expect(await within(proc.exited, 15_000)).toBeGreaterThan(0);
      expect(proc.output()).toMatch(/PORT="abc"/);
    });
  });

  describe('in the order path', () => {
    beforeAll(async () => {
      redis = await startRedis();
      sentry = await startSentry({ dir: mkdtempSync(join(tmpdir(), 'orders-sentry-')) });
      const storePort = await freePort();
      const daprEnv = { ORDERS_REDIS_HOST: redis.address };
      storeSidecar = await startSidecar({ appId: storeAppId, appPort: storePort, sentry, env: daprEnv });
      store = startImage(artifact('order-store'), { PORT: String(storePort), DAPR_HTTP_PORT: String(storeSidecar.httpPort) });
      storeUrl = `http://127.0.0.1:${storePort}`;
      await awaitReady(store, 'the order-store image /readyz', () => answers(`${storeUrl}/readyz`));
      generatorSidecar = await startSidecar({ appId: generatorAppId, sentry, env: daprEnv });
    });

    test('order-store runs as uid 1000', () => {
      expect(uidOf(store!.pid)).toBe('1000');
    });

    test('order-store behind its daprd: POST /neworder is a 201, GET /order and /orders/:id read it back', async () => {
      const res = await fetch(`${storeUrl}/neworder`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: { orderId: 'image-1', items: [{ sku: 'rye-bread', quantity: 1, unitPrice: 3.2 }], total: 3.2 } }),
      });
      expect(res.status).toBe(201);
      expect(await (await fetch(`${storeUrl}/order`)).json()).toMatchObject({ orderId: 'image-1', total: 3.2 });
      expect(await (await fetch(`${storeUrl}/orders/image-1`)).json()).toMatchObject({ orderId: 'image-1' });
    });

    test('order-generator with ORDER_LIMIT=3 sends 3 orders through both sidecars into Redis and exits 0', async () => {
      const client = new Redis(redis!.port, '127.0.0.1', { lazyConnect: true });
      await client.connect();
      try {
        const orderKeys = () => client.keys(`${storeAppId}||order:*`);
        const before = await orderKeys();
        const generator = startImage(artifact('order-generator'), {
          PORT: String(await freePort()),
          DAPR_HTTP_PORT: String(generatorSidecar!.httpPort),
          ORDER_LIMIT: '3',
          ORDERS_PER_SECOND: '20',
        });
        const code = await within(generator.exited, 60_000);
        if (code !== 0) await generator.stop(2_000);
        expect({ code, output: code === 0 ? '' : generator.output() }).toEqual({ code: 0, output: '' });
        const added = (await orderKeys()).filter((key) => !before.includes(key));
        expect(added).toHaveLength(3);
        for (const key of added) expect(JSON.parse((await client.hget(key, 'data')) ?? 'null')).toMatchObject({ acceptedAt: expect.any(String) });
      } finally {
        client.disconnect();
      }
    });
  });
});
