import { expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { type Sidecar, generatorAppId, repoRoot, startSidecar, storeAppId } from '../../harness/daprd';
import { type ImageApp, type ImageArtifact, buildImageArtifact, imageCommand, startImage } from '../../harness/image';
import { type Proc, answers, awaitReady, freePort, runningProcesses, within } from '../../harness/processes';
import { type RedisServer, startRedis } from '../../harness/redis';
import { type Sentry, startSentry } from '../../harness/sentry';

// No Docker engine runs here, so this tests what the images would run: each Dockerfile replayed
// outside Docker (harness/image.ts), its final stage started the way CMD starts it, from its
// WORKDIR, with its ENV only, as its USER; both images in one order path, through real sidecars.

const run = promisify(execFile);
const BUILD_TIMEOUT_MS = 240_000;
const APPS: ImageApp[] = ['order-store', 'order-generator'];
/** The V8 flags each image starts node with (the Dockerfiles say why). */
const nodeFlags: Record<ImageApp, string[]> = {
  'order-store': ['--max-semi-space-size=4', '--max-old-space-size=96'],
  'order-generator': ['--max-semi-space-size=4', '--max-old-space-size=128'],
};

interface LockEntry {
  dev?: boolean;
  link?: boolean;
}
const repoLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

/** Every package npm installed into the artifact, from its hidden lockfile (node_modules/.package-lock.json). */
function installedPackages(artifact: ImageArtifact): string[] {
  const hidden = JSON.parse(readFileSync(join(artifact.root, 'app/node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  return Object.keys(hidden.packages).filter((path) => path.startsWith('node_modules/'));
}

const uidOf = (pid: number) => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

describe('the apps as their images run them (Dockerfiles replayed without Docker)', () => {
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
    test('the final stage has the image layout: dist and production node_modules, no sources', () => {
      const built = artifact(app);
      expect(built.imageWorkdir).toBe(`/app/apps/${app}`);
      expect(built.cmd).toEqual(['node', ...nodeFlags[app], 'dist/main.js']);
      expect(built.env).toEqual({ NODE_ENV: 'production' });
      expect(built.user).toEqual({ uid: 1000, gid: 1000 });
      const inApp = (path: string) => join(built.root, 'app', path);
      expect(existsSync(join(built.workdir, 'dist/main.js'))).toBe(true);
      expect(existsSync(inApp('packages/common/dist/src/index.js'))).toBe(true);
      expect(existsSync(inApp('packages/common/topology.json'))).toBe(true);
      expect(readlinkSync(inApp('node_modules/@orders/common'))).toBe('../../packages/common');
      for (const absent of [`apps/${app}/src`, 'packages/common/src', 'tsconfig.base.json', `apps/${app}/tsconfig.json`]) {
        expect({ absent, exists: existsSync(inApp(absent)) }).toEqual({ absent, exists: false });
      }
    });

    test('node_modules holds no devDependency, nor anything only they need', () => {
      const built = artifact(app);
      for (const dev of ['typescript', 'jest', 'tsx', 'ts-jest', 'ioredis', '@types/jest', '@types/express', 'esbuild']) {
        expect({ dev, installed: existsSync(join(built.root, 'app/node_modules', dev)) }).toEqual({ dev, installed: false });
      }
      const installed = installedPackages(built);
      expect(installed).toEqual(expect.arrayContaining(['node_modules/@dapr/dapr', 'node_modules/pino', 'node_modules/zod', 'node_modules/@orders/common']));
      // The repository's lockfile marks every package reached only through devDependencies.
      expect(installed.filter((path) => repoLock.packages[path]?.dev === true)).toEqual([]);
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

    test('order-store runs as uid 1000 and passes its HEALTHCHECK', async () => {
      expect(uidOf(store!.pid)).toBe('1000');
      const built = artifact('order-store');
      const { command, args, options } = imageCommand(built, built.healthcheck!, { PORT: storeUrl.split(':').at(-1) });
      await expect(run(command, args, { cwd: options.cwd, env: options.env, timeout: 10_000 })).resolves.toBeDefined();
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
