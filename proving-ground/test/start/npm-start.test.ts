import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { topology } from '@orders/common';
import { defaultPointerOptions } from '../../../apps/order-store/src/latest-pointer';
import { repoRoot } from '../../harness/daprd';
import { type Proc, runningProcesses, startProcess, waitFor, within } from '../../../dev/src/processes';

// `ORDER_STORE_REPLICAS=2 npm start` as a new user runs it (after the bootstrap `npm test` has
// already done): the README's curls against port 3000, then Ctrl-C. It uses the fixed ports the
// README names (3000, the sidecars' 35xx, Sentry's 50001 and Redis's 6379, started if none
// answers), so nothing else may hold them while it runs.

const STORE = `http://127.0.0.1:${topology.orderStore.port}`;
const REPLICAS = 2;

const run = promisify(execFile);

/** curl's answer: the status from `-w`, the JSON body before it. */
async function curl(args: string[]): Promise<{ status: number; body: unknown }> {
  const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_code}', ...args], { timeout: 10_000 });
  const newline = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(newline + 1)), body: JSON.parse(stdout.slice(0, newline)) as unknown };
}

interface AppLine {
  pid: number;
  msg: string;
  orderId?: string;
  port?: number;
}

describe('ORDER_STORE_REPLICAS=2 npm start', () => {
  let start: Proc;
  let console = '';
  const storeLines = (): AppLine[] =>
    console
      .split('\n')
      .flatMap((line) => /^== APP - order-store == (\{.*\})$/.exec(line)?.[1] ?? [])
      .map((json) => JSON.parse(json) as AppLine);

  beforeAll(async () => {
    const echo = new Writable({
      write(chunk: Buffer, _encoding, done) {
        console += chunk.toString();
        done();
      },
    });
    start = startProcess('npm start', process.execPath, ['--conditions=development', '--import=tsx', join('scripts', 'start.ts')], {
      cwd: repoRoot,
      env: { ...process.env, ORDER_STORE_REPLICAS: String(REPLICAS) },
      echo,
    });
    await waitFor(`${REPLICAS} order-store replicas listening`, () => storeLines().filter((line) => line.msg === 'order-store listening').length === REPLICAS, 90_000, start);
    await waitFor("the generator's first order through a replica", () => storeLines().some((line) => line.msg === 'order created'), 60_000, start);
  });

  afterAll(async () => {
    if (start?.isRunning()) await start.stop(20_000);
    expect(runningProcesses()).toEqual([]);
  });

  test("the README's curls on port 3000 reach every replica, and each shows the order just posted", async () => {
    const runId = Date.now().toString(36);
    for (let i = 0; i < 6; i += 1) {
      const orderId = `npm-start-${runId}-${i}`;
      // What a replica promises: an order that finds it quiet (no pointer write started in the
      // last interval) is in the shared pointer before its 201. Two of these loop's POSTs reach
      // the same replica tens of milliseconds apart, which is load, not quiet: as a person would,
      // the loop lets an interval pass first (chaos/README.md, Staleness, has the figures under load).
      await new Promise((done) => setTimeout(done, 2 * defaultPointerOptions.intervalMs));
      // curl itself, one connection per request: the proxy sends each to the next replica.
      const posted = await curl(['-X', 'POST', `${STORE}/neworder`, '-H', 'content-type: application/json', '-d', JSON.stringify({ data: { orderId } })]);
      expect({ orderId, ...posted }).toEqual({ orderId, status: 201, body: { orderId } });
      const latest = await curl([`${STORE}/order`]);
      expect(latest.status).toBe(200);
      const shown = latest.body as { orderId: string };
      // With two replicas and a new connection per curl, the GET goes to the other replica than
      // the POST: the order just acknowledged there shows here (or a generator order after it).
      if (shown.orderId !== orderId) expect(shown.orderId).not.toMatch(/^npm-start-/);
    }
    for (let i = 6; i < 10; i += 1) {
      const orderId = `npm-start-${runId}-${i}`;
      expect(await curl(['-X', 'POST', `${STORE}/neworder`, '-H', 'content-type: application/json', '-d', JSON.stringify({ data: { orderId } })])).toEqual({ status: 201, body: { orderId } });
    }
    await waitFor('the replicas to log the orders', () => storeLines().filter((line) => line.orderId?.startsWith(`npm-start-${runId}-`)).length === 10, 5_000);
    const servedBy = new Set(storeLines().filter((line) => line.orderId?.startsWith(`npm-start-${runId}-`)).map((line) => line.pid));
    expect(servedBy.size).toBe(REPLICAS);
  });

  test("the generator's orders reach every replica through Dapr's name resolution", async () => {
    const generatorOrdersBy = () => new Set(storeLines().filter((line) => line.msg === 'order created' && !line.orderId?.startsWith('npm-start-')).map((line) => line.pid));
    // mDNS finds the second replica's sidecar within seconds to half a minute here.
    await waitFor('generator orders on every replica', () => generatorOrdersBy().size === REPLICAS, 90_000, start);
  });

  test("`npm run trace -- <orderId>` shows a generator order's trace across four processes, and a curl's from the store on", async () => {
    const trace = async (orderId: string) => {
      try {
        const { stdout } = await run(process.execPath, ['--conditions=development', '--import=tsx', join('scripts', 'trace.ts'), orderId], { cwd: repoRoot, timeout: 30_000 });
        return stdout;
      } catch {
        return ''; // not there yet: the sidecars send their spans every few seconds
      }
    };
    // Four processes send their spans on their own schedules (the apps every 500 ms, the sidecars
    // every few seconds): poll until every step is in, then name any still missing.
    const wholeTrace = async (orderId: string, steps: string[]) => {
      let view = '';
      const complete = async () => {
        view = await trace(orderId);
        return steps.every((step) => view.includes(step));
      };
      await waitFor(`the whole trace of ${orderId}`, complete, 30_000).catch(() => undefined);
      for (const step of steps) expect({ orderId, step, found: view.includes(step), view }).toMatchObject({ step, found: true });
      return view;
    };
    // The latest generator order, not the first: the first may go out while the sidecars still connect.
    const generated = storeLines().findLast((line) => line.msg === 'order created' && line.orderId && !line.orderId.startsWith('npm-start-'))!.orderId!;
    await wholeTrace(generated, ['order-generator: order', 'order-generator daprd:', 'order-store daprd: CallLocal', 'order-store: POST /neworder', 'order-store daprd: /v1.0/state']);
    const posted = storeLines().find((line) => line.orderId?.startsWith('npm-start-'))!.orderId!;
    const view = await wholeTrace(posted, ['order-store: POST /neworder', 'order-store daprd: /v1.0/state']);
    expect(view).not.toContain('order-generator');
  });

  test('Ctrl-C stops everything it started and exits 0', async () => {
    process.kill(start.pid, 'SIGINT');
    expect(await within(start.exited, 30_000)).toBe(0);
    expect(console).toContain('[start] stopped');
    await expect(fetch(`${STORE}/healthz`)).rejects.toThrow();
  });
});
