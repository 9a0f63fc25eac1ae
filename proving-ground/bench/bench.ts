import { execFile } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { topology } from '@orders/common';
import { ATTEMPT_HEADER } from '@orders/contract';
import { type AppProcess, startOrderStore } from '../harness/apps';
import { daprBinary } from '../../dev/src/dapr-binaries';
import { deployedEnv } from '../harness/deployed';
import { type Sidecar, type SidecarOptions, generatorAppId, isolatedConfiguration, repoRoot, startSidecar, storeAppId } from '../harness/daprd';
import { answers, freePort, startProcess, waitFor } from '../../dev/src/processes';
import { type RedisServer, startRedis } from '../../dev/src/redis';
import { type Sentry, startSentry } from '../../dev/src/sentry';
import { type LatencyFigure, latencyDelta, scrape } from './dapr-metrics';
import { type GeneratorFigures, deriveRates, measureGenerator } from './generator';
import { type LoadResult, nextOrderId, orderBody, runLoad, stateBody, storedOrder } from './load';
import { type BenchOptions, RSS_SHARE_OF_LIMIT, rssBudgetMb } from './options';
import { type ProcessUsage, type Watched, UsageSampler, round } from './procstat';
import { type RedisBenchResult, redisBenchmark } from './redis-bench';

const run = promisify(execFile);

export type TargetName = 'orderPath' | 'invokeCeiling' | 'stateCeiling';

export interface LevelFigures extends LoadResult {
  /** Throughput of this level in every round, in the order measured; the other figures are those of the round with the median ratioToCeiling. */
  roundsRps: number[];
  /** Peak RSS and CPU of every process on the path during this level. */
  processes: ProcessUsage[];
  /** CPU milliseconds each process spent per completed request: where the two cores went. */
  cpuMsPerRequest: Record<string, number>;
  /** Context switches of each process per completed request: the wake-ups behind that CPU. */
  contextSwitchesPerRequest: Record<string, number>;
  /** Mean latencies from each sidecar's own metrics endpoint during this level. */
  daprLatencies: Record<string, LatencyFigure[]>;
}

export interface TargetFigures {
  name: TargetName;
  description: string;
  levels: LevelFigures[];
}

export interface BenchResults {
  generatedAt: string;
  options: Omit<BenchOptions, 'outDir'>;
  machine: Record<string, string | number>;
  targets: Record<TargetName, TargetFigures>;
  /** 1 ÷ (1/T1 + 1/T2): invocation and one state write, in series, at each level. */
  seriesCeiling: Array<{ connections: number; rps: number }>;
  /** Order-path throughput ÷ seriesCeiling, at each level: the median round's; `roundRatios` has every round's. */
  ratioToCeiling: Array<{ connections: number; ratio: number; roundRatios: number[] }>;
  redisBenchmark: RedisBenchResult[];
  generator: GeneratorFigures;
  /** Highest RSS of each app and each daprd over the whole run, in MB. */
  peakRssMb: Record<string, number>;
  checks: Array<{ target: string; pass: boolean; detail: string }>;
}

const indent = (text: string) => text.replace(/^/gm, '      ');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the no-op app of ceiling (1) on the port the store's sidecar calls. */
async function startNoopApp(port: number): Promise<AppProcess> {
  const proc = startProcess('noop-app', process.execPath, ['--import=tsx', join(__dirname, 'noop-app.ts')], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port) },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('noop-app /healthz', () => answers(`${url}/healthz`), 30_000, proc);
  return { port, url, proc, stop: () => proc.stop(5_000) };
}

async function versionOf(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: 10_000, cwd: repoRoot });
    return stdout.trim().split('\n')[0] ?? '';
  } catch {
    return 'unknown';
  }
}

export async function describeMachine(): Promise<Record<string, string | number>> {
  const autocannonPkg = JSON.parse(readFileSync(require.resolve('autocannon/package.json'), 'utf8')) as { version: string };
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: round(totalmem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
    daprd: await versionOf(daprBinary('daprd'), ['--version']),
    daprRuntimeExpected: topology.daprVersion,
    redis: await versionOf('redis-server', ['--version']),
    autocannon: autocannonPkg.version,
    gitCommit: await versionOf('git', ['rev-parse', '--short', 'HEAD']),
    appLogLevel: deployedEnv('order-store').LOG_LEVEL ?? 'unset',
    loadAverageAtStart: loadavg().map((l) => round(l, 2)).join(' '),
  };
}

/** POSTs one request and tells whether it came back 2xx: the path is ready end to end. */
export async function pathAnswers(url: string, body: string): Promise<boolean> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.ok;
}

export async function flushRedis(redis: RedisServer): Promise<void> {
  await run('redis-cli', ['-h', redis.host, '-p', String(redis.port), 'FLUSHALL'], { timeout: 10_000 });
}

export async function measureTarget(
  name: TargetName,
  description: string,
  spec: { url: string; body: (orderId: string) => string; headers?: Record<string, string> },
  watched: Watched[],
  sidecars: Sidecar[],
  options: BenchOptions,
  log: (line: string) => void,
): Promise<TargetFigures> {
  await waitFor(`${name} to answer`, () => pathAnswers(spec.url, spec.body(nextOrderId())), 30_000);
  if (options.warmupSec > 0) {
    const warmConnections = Math.min(16, Math.max(...options.levels));
    const warm = await runLoad({ ...spec, connections: warmConnections, durationSec: options.warmupSec });
    if (warm.errors > 0) log(`  warm-up: ${warm.errors} errors of ${warm.requests}, first: ${warm.firstError ?? 'a connection error'}`);
  }
  const levels: LevelFigures[] = [];
  let reportedErrors = false;
  for (const connections of options.levels) {
    const before = await Promise.all(sidecars.map((s) => scrape(s.metricsPort)));
    const sampler = new UsageSampler(watched).start();
    // CPU and context switches count the measured run only; the rate probe before it is left out.
    const load = await runLoad({ ...spec, connections, durationSec: options.durationSec }, () => sampler.restartCounters());
    const processes = sampler.stop();
    const after = await Promise.all(sidecars.map((s) => scrape(s.metricsPort)));
    const daprLatencies: Record<string, LatencyFigure[]> = {};
    sidecars.forEach((s, i) => (daprLatencies[`daprd:${s.appId}`] = latencyDelta(before[i]!, after[i]!)));
    const perRequest = (value: (p: ProcessUsage) => number, digits: number) =>
      Object.fromEntries(processes.map((p) => [p.name, load.requests > 0 ? round(value(p) / load.requests, digits) : 0]));
    const cpuMsPerRequest = perRequest((p) => p.cpuMs, 3);
    const contextSwitchesPerRequest = perRequest((p) => p.contextSwitches, 2);
    levels.push({ ...load, roundsRps: [load.rps], processes, cpuMsPerRequest, contextSwitchesPerRequest, daprLatencies });
    log(`  ${name} c=${connections}: ${load.rps} req/s, p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, errors ${load.errors}`);
    if (load.errors > 0 && !reportedErrors) {
      reportedErrors = true;
      log(`    first error: ${load.firstError ?? 'a connection error'}`);
      for (const s of sidecars) log(`    daprd:${s.appId} said lately:\n${indent(s.proc.output().split('\n').slice(-8).join('\n'))}`);
    }
    await sleep(500);
  }
  return { name, description, levels };
}

/** What every target runs on: Redis, Sentry and the two sidecars (mTLS), on free ports, with the run's own name resolution. */
export interface Rig {
  redis: RedisServer;
  sentry: Sentry;
  /** The port the store's sidecar calls its app on: order-store, or the no-op app. */
  storePort: number;
  storeSidecar: Sidecar;
  generatorSidecar: Sidecar;
  /** order-generator's call: `POST /v1.0/invoke/order-store/method/neworder` on its sidecar. */
  invokeUrl: string;
  /** Stops everything the rig started and removes its scratch directories. */
  stop(): Promise<void>;
}

/** How a rig's sidecars trace: as components/ says with spans sent nowhere (the default), off, or sent to a collector. */
export type RigTracing = { samplingRate: string; otlpAddress?: string } | undefined;

export async function startRig(options: BenchOptions, log: (line: string) => void, tracing?: RigTracing): Promise<Rig> {
  const cleanup: Array<{ stop(): Promise<unknown> }> = [];
  const scratch: string[] = [];
  const scratchDir = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    scratch.push(dir);
    return dir;
  };
  const stop = async () => {
    for (const part of cleanup.reverse()) await part.stop();
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  };
  try {
    log('starting Redis, Sentry and both sidecars (mTLS)');
    const redis = await startRedis();
    cleanup.push(redis);
    const sentry = await startSentry({ dir: scratchDir('orders-bench-sentry-') });
    cleanup.push(sentry);
    const daprEnv = { ORDERS_REDIS_HOST: redis.address };
    const configPath = isolatedConfiguration(join(scratchDir('orders-bench-dapr-'), 'name-resolution.db'), undefined, tracing?.otlpAddress, tracing?.samplingRate);
    const storePort = await freePort();
    // BENCH_DAPR_LOG=debug|info writes each sidecar's log beside the results, to see what daprd did.
    const daprLog = (appId: string): Pick<SidecarOptions, 'logLevel' | 'echo'> => {
      const level = process.env.BENCH_DAPR_LOG;
      if (level !== 'debug' && level !== 'info' && level !== 'warn') return {};
      mkdirSync(options.outDir, { recursive: true });
      return { logLevel: level, echo: createWriteStream(join(options.outDir, `daprd-${appId}.log`)) };
    };
    const storeSidecar = await startSidecar({ appId: storeAppId, appPort: storePort, sentry, env: daprEnv, configPath, ...daprLog(storeAppId) });
    cleanup.push(storeSidecar);
    const generatorSidecar = await startSidecar({ appId: generatorAppId, sentry, env: daprEnv, configPath, ...daprLog(generatorAppId) });
    cleanup.push(generatorSidecar);
    const invokeUrl = `http://127.0.0.1:${generatorSidecar.httpPort}/v1.0/invoke/${storeAppId}/method/${topology.newOrderMethod}`;
    return { redis, sentry, storePort, storeSidecar, generatorSidecar, invokeUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Builds dist/ with `npm run build` (tsc -b, then the bundles) when the run measures it and was not told to skip that. */
export async function compileIfAsked(options: BenchOptions, log: (line: string) => void): Promise<void> {
  if (options.build === 'dist' && options.compile) {
    log('building dist/ (npm run build)');
    await run('npm', ['run', '--silent', 'build'], { cwd: repoRoot, timeout: 300_000 });
  }
}

/** Runs every measurement of `npm run bench` and returns the figures; stops everything it started. */
export async function runBench(options: BenchOptions, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<BenchResults> {
  await compileIfAsked(options, log);
  const machine = await describeMachine();
  const self: Watched = { name: 'load generator', pid: process.pid };
  const rig = await startRig(options, log);
  try {
    const { redis, storePort, storeSidecar, generatorSidecar, invokeUrl } = rig;

    // order-store runs with deploy/order-store.yaml's settings: it logs every order, as in the cluster.
    const startStore = () => startOrderStore({ daprHttpPort: storeSidecar.httpPort, port: storePort, build: options.build, env: deployedEnv('order-store') });
    const invokeHeaders = { [ATTEMPT_HEADER]: '1' };

    // What each target puts behind the sidecars (the app on the store's port) and what it measures.
    const plans: Array<{
      name: TargetName;
      title: string;
      description: string;
      spec: { url: string; body: (orderId: string) => string; headers?: Record<string, string> };
      app: { name: string; start: () => Promise<AppProcess>; watched: boolean };
      /** The sidecars on the path: their metrics are read and their processes watched. */
      sidecars: Sidecar[];
    }> = [
      {
        name: 'orderPath',
        title: `order path, order-store from ${options.build}`,
        description: 'load generator → daprd (order-generator) → mTLS → daprd (order-store) → order-store → state API → Redis',
        spec: { url: invokeUrl, body: orderBody, headers: invokeHeaders },
        app: { name: 'order-store', start: startStore, watched: true },
        sidecars: [storeSidecar, generatorSidecar],
      },
      {
        name: 'invokeCeiling',
        title: 'ceiling 1: the same sidecars in front of a no-op app',
        description: 'load generator → daprd (order-generator) → mTLS → daprd (order-store) → no-op app',
        spec: { url: invokeUrl, body: orderBody, headers: invokeHeaders },
        app: { name: 'noop-app', start: () => startNoopApp(storePort), watched: true },
        sidecars: [storeSidecar, generatorSidecar],
      },
      {
        name: 'stateCeiling',
        title: 'ceiling 2: daprd state API alone',
        description: "load generator → daprd (order-store) state API → Redis, the store's insert-only write of one order",
        spec: { url: `${storeSidecar.api}/state/${topology.stateStore}`, body: stateBody },
        // The no-op app keeps the store's sidecar seeing a healthy app, as in the other targets.
        app: { name: 'noop-app', start: () => startNoopApp(storePort), watched: false },
        sidecars: [storeSidecar],
      },
    ];
    const rounds: Record<TargetName, TargetFigures[]> = { orderPath: [], invokeCeiling: [], stateCeiling: [] };
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const plan of plans) {
        log(`${plan.title}${options.rounds > 1 ? ` (round ${round} of ${options.rounds})` : ''}`);
        const app = await plan.app.start();
        const watched: Watched[] = [
          ...(plan.app.watched ? [{ name: plan.app.name, pid: app.proc.pid }] : []),
          ...plan.sidecars.map((s) => ({ name: `daprd:${s.appId}`, pid: s.proc.pid })),
          { name: 'redis', pid: redis.proc.pid },
          self,
        ];
        rounds[plan.name].push(await measureTarget(plan.name, plan.description, plan.spec, watched, plan.sidecars, options, log));
        await app.stop();
        await flushRedis(redis);
      }
    }
    const { orderPath, invokeCeiling, stateCeiling } = pairedMedianRound(rounds);

    log('ceiling 3: redis-benchmark');
    const payloadBytes = Buffer.byteLength(JSON.stringify(storedOrder(nextOrderId())));
    const redisResults: RedisBenchResult[] = [];
    for (const connections of options.levels) {
      const requests = options.redisRequests > 0 ? options.redisRequests : Math.max(1_000, Math.round(30_000 * options.durationSec));
      const result = await redisBenchmark(redis.port, connections, requests, payloadBytes);
      redisResults.push(result);
      log(`  redis-benchmark SET c=${connections}: ${result.rps} req/s, p99 ${result.p99Ms} ms`);
    }
    await flushRedis(redis);

    log('order-generator: highest steady rate, then memory at that rate');
    const store = await startStore();
    await waitFor('order path to answer', () => pathAnswers(invokeUrl, orderBody(nextOrderId())), 30_000);
    const bestRps = Math.max(...orderPath.levels.map((l) => l.rps));
    const generator = await measureGenerator(
      rig.generatorSidecar,
      {
        rates: options.generatorRates.length ? options.generatorRates : deriveRates(bestRps),
        stepSec: options.generatorStepSec,
        memorySec: options.generatorMemorySec,
        build: options.build,
      },
      log,
    );
    await store.stop();
    machine.loadAverageAtEnd = loadavg().map((l) => round(l, 2)).join(' ');

    return summarise(options, machine, { orderPath, invokeCeiling, stateCeiling }, redisResults, generator);
  } finally {
    await rig.stop();
  }
}

/** 1 ÷ (1/T1 + 1/T2): the throughput of an invocation and a state write, one after the other. */
export function inSeries(invokeRps: number, stateRps: number): number {
  return invokeRps > 0 && stateRps > 0 ? 1 / (1 / invokeRps + 1 / stateRps) : 0;
}

/** The order path's throughput ÷ inSeries(invoke, state); 0 when a ceiling was not measured. */
function ratioToSeries(pathRps: number, invokeRps: number, stateRps: number): number {
  const series = inSeries(invokeRps, stateRps);
  return series > 0 ? pathRps / series : 0;
}

/**
 * Every target's figures over its rounds, each level taken from one round for all three targets:
 * the round whose own ratioToCeiling (its order path ÷ its ceilings in series) is the median, the
 * lower of the middle two for an even count. A round measures the three targets back to back, so
 * its ratio compares them in one machine state; a round the machine disturbed (another tenant, a
 * frequency change) lowers or raises its targets together instead of moving one median alone.
 * `roundsRps` keeps every round's throughput.
 */
export function pairedMedianRound(rounds: Record<TargetName, TargetFigures[]>): Record<TargetName, TargetFigures> {
  const [first] = rounds.orderPath;
  if (!first) throw new Error('no round was measured');
  const count = rounds.orderPath.length;
  if (rounds.invokeCeiling.length !== count || rounds.stateCeiling.length !== count) throw new Error('every target needs the same rounds');
  const median = first.levels.map((_, i) => {
    const ratios = rounds.orderPath.map((round, r) => ({
      round: r,
      ratio: ratioToSeries(round.levels[i]!.rps, rounds.invokeCeiling[r]!.levels[i]!.rps, rounds.stateCeiling[r]!.levels[i]!.rps),
    }));
    return [...ratios].sort((a, b) => a.ratio - b.ratio)[Math.floor((count - 1) / 2)]!.round;
  });
  const pick = (target: TargetFigures[]): TargetFigures => ({
    ...target[0]!,
    levels: target[0]!.levels.map((_, i) => ({ ...target[median[i]!]!.levels[i]!, roundsRps: target.map((round) => round.levels[i]!.rps) })),
  });
  return { orderPath: pick(rounds.orderPath), invokeCeiling: pick(rounds.invokeCeiling), stateCeiling: pick(rounds.stateCeiling) };
}

export function summarise(
  options: BenchOptions,
  machine: Record<string, string | number>,
  targets: Record<TargetName, TargetFigures>,
  redisResults: RedisBenchResult[],
  generator: GeneratorFigures,
): BenchResults {
  const seriesCeiling: BenchResults['seriesCeiling'] = [];
  const ratioToCeiling: BenchResults['ratioToCeiling'] = [];
  targets.orderPath.levels.forEach((level, i) => {
    const invoke = targets.invokeCeiling.levels[i];
    const state = targets.stateCeiling.levels[i];
    const roundRatios = level.roundsRps.map((rps, r) => round(ratioToSeries(rps, invoke?.roundsRps[r] ?? 0, state?.roundsRps[r] ?? 0), 3));
    seriesCeiling.push({ connections: level.connections, rps: round(inSeries(invoke?.rps ?? 0, state?.rps ?? 0), 1) });
    ratioToCeiling.push({ connections: level.connections, ratio: round(ratioToSeries(level.rps, invoke?.rps ?? 0, state?.rps ?? 0), 3), roundRatios });
  });

  const peakRssMb: Record<string, number> = {};
  for (const target of Object.values(targets)) {
    for (const level of target.levels) {
      for (const p of level.processes) {
        if (p.name === 'load generator' || p.name === 'redis') continue;
        peakRssMb[p.name] = Math.max(peakRssMb[p.name] ?? 0, p.peakRssMb);
      }
    }
  }
  peakRssMb['order-generator'] = Math.max(generator.memory.peakRssMb, ...generator.steps.map((s) => s.peakRssMb));

  const checks: BenchResults['checks'] = [];
  const low = ratioToCeiling.filter((r) => r.connections >= 4 && r.ratio < 0.8);
  checks.push({
    target: 'ratioToCeiling ≥ 0.8 at every concurrency ≥ 4',
    pass: low.length === 0,
    detail: ratioToCeiling.map((r) => `c=${r.connections}: ${r.ratio}`).join(', '),
  });
  const errors = targets.orderPath.levels.filter((l) => l.errors > 0);
  checks.push({
    target: 'zero errors on the order path',
    pass: errors.length === 0,
    detail: errors.length ? errors.map((l) => `c=${l.connections}: ${l.errors}`).join(', ') : 'none at any level',
  });
  for (const app of ['order-store', 'order-generator'] as const) {
    const peak = peakRssMb[app] ?? 0;
    const budget = rssBudgetMb(app);
    checks.push({ target: `${app} peak RSS ≤ ${budget} MB (${RSS_SHARE_OF_LIMIT * 100}% of deploy/'s limit)`, pass: peak > 0 && peak <= budget, detail: `${peak} MB` });
  }
  checks.push({
    target: 'order-generator memory flat (within 10%) at its steady rate',
    pass: Math.abs(generator.memory.growthPct) <= 10,
    detail: `${generator.memory.baselineRssMb} → ${generator.memory.endRssMb} MB (${generator.memory.growthPct}%) over ${generator.memory.durationSec}s at ${generator.memory.ratePerSec}/s`,
  });

  const { outDir: _outDir, ...recorded } = options;
  return {
    generatedAt: new Date().toISOString(),
    options: recorded,
    machine,
    targets,
    seriesCeiling,
    ratioToCeiling,
    redisBenchmark: redisResults,
    generator,
    peakRssMb,
    checks,
  };
}
