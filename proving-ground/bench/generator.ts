import { type AppBuild, type AppProcess, startOrderGenerator } from '../harness/apps';
import { deployedEnv } from '../harness/deployed';
import type { PipelineStats } from '../../apps/order-generator/src/pipeline';
import type { Sidecar } from '../harness/daprd';
import { cpuMsOf, memoryOf, round } from './procstat';

export interface RateStep {
  configuredPerSec: number;
  acceptedPerSec: number;
  held: boolean;
  retries: number;
  rejected: number;
  backlogAtEnd: number;
  /** order-generator's own CPU per accepted order. */
  cpuMsPerOrder: number;
  peakRssMb: number;
}

export interface GeneratorFigures {
  /** A rate is held when at least 95% of it is accepted, with no order rejected or retried, and the backlog does not build up. */
  steps: RateStep[];
  /** The highest configured rate that was held, and what was accepted at it; 0 when none was. */
  steadyRatePerSec: number;
  acceptedAtSteadyPerSec: number;
  memory: {
    durationSec: number;
    ratePerSec: number;
    acceptedPerSec: number;
    retries: number;
    rejected: number;
    /** [seconds since start, RSS MB], one a second. */
    samples: Array<[number, number]>;
    peakRssMb: number;
    /** Mean RSS over the run's second tenth to its first quarter (after start-up), and over its last 15%. */
    baselineRssMb: number;
    endRssMb: number;
    growthPct: number;
  };
}

const HELD_FRACTION = 0.95;
/** What is in flight (MAX_IN_FLIGHT, 32 by default) plus one generator burst; more means the backlog is growing. */
const steadyBacklog = (rate: number) => 32 + Math.ceil(rate * 0.1);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function stats(generator: AppProcess): Promise<PipelineStats> {
  const res = await fetch(`${generator.url}/stats`, { signal: AbortSignal.timeout(5_000) });
  return (await res.json()) as PipelineStats;
}

/** Which order-generator to run: its build, and the checkout it comes from (this one by default). */
export interface GeneratorBuild {
  build: AppBuild;
  root?: string;
  /** Settings on top of deploy/'s (the tracing comparison's). */
  env?: Record<string, string>;
}

async function withGenerator<T>(sidecar: Sidecar, rate: number, app: GeneratorBuild, work: (generator: AppProcess) => Promise<T>): Promise<T> {
  const generator = await startOrderGenerator({
    daprHttpPort: sidecar.httpPort,
    build: app.build,
    ...(app.root ? { root: app.root } : {}),
    // As deploy/order-generator.yaml runs it (logging every order), at the rate under test.
    env: { ...deployedEnv('order-generator', app.root), ...app.env, ORDERS_PER_SECOND: String(rate) },
  });
  try {
    return await work(generator);
  } finally {
    await generator.stop();
  }
}

/** Runs order-generator at one rate for stepSec (after a short settling time) and reads its counters. */
export async function measureRate(sidecar: Sidecar, rate: number, stepSec: number, app: GeneratorBuild): Promise<RateStep> {
  return withGenerator(sidecar, rate, app, async (generator) => {
    await sleep(Math.min(2_000, stepSec * 250));
    const before = await stats(generator);
    const cpuBefore = cpuMsOf(generator.proc.pid) ?? 0;
    const started = performance.now();
    let peak = 0;
    const deadline = started + stepSec * 1000;
    while (performance.now() < deadline) {
      await sleep(Math.min(250, deadline - performance.now()));
      peak = Math.max(peak, memoryOf(generator.proc.pid)?.rss ?? 0);
    }
    const after = await stats(generator);
    const seconds = (performance.now() - started) / 1000;
    const accepted = after.accepted - before.accepted;
    const acceptedPerSec = accepted / seconds;
    const retries = after.retries - before.retries;
    const rejected = after.rejected - before.rejected;
    return {
      configuredPerSec: rate,
      acceptedPerSec: round(acceptedPerSec, 1),
      held: acceptedPerSec >= HELD_FRACTION * rate && retries === 0 && rejected === 0 && after.backlog <= steadyBacklog(rate),
      retries,
      rejected,
      backlogAtEnd: after.backlog,
      cpuMsPerOrder: accepted > 0 ? round(((cpuMsOf(generator.proc.pid) ?? 0) - cpuBefore) / accepted, 3) : 0,
      peakRssMb: round(peak / 2 ** 20, 1),
    };
  });
}

/** Rates to try when none are given: fractions of the order path's best measured throughput. */
export function deriveRates(bestRps: number): number[] {
  const rates = [0.3, 0.5, 0.7, 0.85, 1.0, 1.15].map((f) => Math.max(10, Math.round((f * bestRps) / 10) * 10));
  return [...new Set(rates)];
}

export async function measureGenerator(
  sidecar: Sidecar,
  options: { rates: number[]; stepSec: number; memorySec: number; build: AppBuild },
  log: (line: string) => void,
): Promise<GeneratorFigures> {
  const steps: RateStep[] = [];
  for (const rate of options.rates) {
    const result = await measureRate(sidecar, rate, options.stepSec, options);
    steps.push(result);
    log(`  generator at ${rate}/s: accepted ${result.acceptedPerSec}/s, ${result.held ? 'held' : 'not held'} (retries ${result.retries}, backlog ${result.backlogAtEnd})`);
    if (!result.held) break;
  }
  const held = steps.filter((s) => s.held);
  const best = held.at(-1);
  const memoryRate = best?.configuredPerSec ?? steps[0]?.configuredPerSec ?? options.rates[0] ?? 10;
  log(`  generator memory: ${options.memorySec}s at ${memoryRate}/s`);
  const memory = await withGenerator(sidecar, memoryRate, options, async (generator) => {
    const samples: Array<[number, number]> = [];
    const before = await stats(generator);
    const started = performance.now();
    for (let second = 1; second <= options.memorySec; second += 1) {
      await sleep(started + second * 1000 - performance.now());
      samples.push([second, round((memoryOf(generator.proc.pid)?.rss ?? 0) / 2 ** 20, 1)]);
    }
    const after = await stats(generator);
    const seconds = (performance.now() - started) / 1000;
    const mean = (from: number, to: number) => {
      const window = samples.slice(Math.floor(from * samples.length), Math.max(Math.floor(from * samples.length) + 1, Math.ceil(to * samples.length)));
      return window.reduce((sum, [, mb]) => sum + mb, 0) / Math.max(1, window.length);
    };
    const baselineRssMb = round(mean(0.1, 0.25), 1);
    const endRssMb = round(mean(0.85, 1), 1);
    return {
      durationSec: options.memorySec,
      ratePerSec: memoryRate,
      acceptedPerSec: round((after.accepted - before.accepted) / seconds, 1),
      retries: after.retries - before.retries,
      rejected: after.rejected - before.rejected,
      samples,
      peakRssMb: round(Math.max(0, ...samples.map(([, mb]) => mb)), 1),
      baselineRssMb,
      endRssMb,
      growthPct: baselineRssMb > 0 ? round(((endRssMb - baselineRssMb) / baselineRssMb) * 100, 1) : 0,
    };
  });
  return {
    steps,
    steadyRatePerSec: best?.configuredPerSec ?? 0,
    acceptedAtSteadyPerSec: best?.acceptedPerSec ?? 0,
    memory,
  };
}
