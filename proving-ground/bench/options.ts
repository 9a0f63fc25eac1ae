import { join } from 'node:path';
import type { AppBuild } from '../harness/apps';
import { type CliOption, appBuild, numberIn, numberList, parseCli } from '../harness/cli';
import { repoRoot } from '../harness/daprd';
import { deployedMemoryLimitMib } from '../harness/deployed';

/** The budget: each app's peak RSS under load is at most this share of its container's memory limit in deploy/. */
export const RSS_SHARE_OF_LIMIT = 0.6;

/** That budget in MB for an app, from this checkout's deploy/. */
export const rssBudgetMb = (app: 'order-store' | 'order-generator') => Math.round(RSS_SHARE_OF_LIMIT * deployedMemoryLimitMib(app));

/** Everything a bench run can be told; each field is a CLI flag and an environment variable (see bench/README.md). */
export interface BenchOptions {
  /** Concurrency levels: connections the load generator keeps busy. */
  levels: number[];
  /** Measured seconds per level and per target. */
  durationSec: number;
  /** Times every target is measured, one after the other; each level reports the round with the median ratioToCeiling. */
  rounds: number;
  /** Unmeasured seconds of load before each target's first level: JIT, connection pools, Redis. */
  warmupSec: number;
  build: AppBuild;
  /** Run `npm run build` first so that dist/ matches the sources (build 'dist' only). */
  compile: boolean;
  /** Where latest.json, latest.md and latest.svg go. */
  outDir: string;
  /** Seconds per rate step when looking for order-generator's highest steady rate. */
  generatorStepSec: number;
  /** Rates to try; empty means derived from the order path's measured throughput. */
  generatorRates: number[];
  /** Seconds of memory sampling at the highest steady rate. */
  generatorMemorySec: number;
  /** Requests per redis-benchmark level; 0 means enough for about durationSec. */
  redisRequests: number;
  /**
   * A git ref to compare this checkout's apps with, in alternating rounds on the same sidecars;
   * empty for the usual run against the ceilings.
   */
  baseline: string;
  /**
   * Compare tracing off (baseline) with tracing on at the default sampling rate (candidate), both
   * this checkout's apps, each on sidecars of its own configuration, spans sent to a real Jaeger.
   */
  tracing: boolean;
}

export const defaultOptions: BenchOptions = {
  levels: [1, 4, 16, 64],
  durationSec: 6,
  rounds: 5,
  warmupSec: 3,
  build: 'dist',
  compile: true,
  outDir: join(repoRoot, 'proving-ground', 'bench', 'results'),
  generatorStepSec: 8,
  generatorRates: [],
  generatorMemorySec: 60,
  redisRequests: 0,
  baseline: '',
  tracing: false,
};

const fields: CliOption<BenchOptions>[] = [
  { flag: '--levels', env: 'BENCH_LEVELS', apply: (o, v) => (o.levels = numberList('levels', v, 1).map(Math.round)) },
  { flag: '--duration', env: 'BENCH_DURATION', apply: (o, v) => (o.durationSec = numberIn('duration', v, 1)) },
  { flag: '--rounds', env: 'BENCH_ROUNDS', apply: (o, v) => (o.rounds = Math.round(numberIn('rounds', v, 1))) },
  { flag: '--warmup', env: 'BENCH_WARMUP', apply: (o, v) => (o.warmupSec = numberIn('warmup', v, 0)) },
  { flag: '--build', env: 'BENCH_BUILD', apply: (o, v) => (o.build = appBuild(v)) },
  { flag: '--no-compile', env: 'BENCH_NO_COMPILE', isSwitch: true, apply: (o, v) => (o.compile = !(v === 'true' || v === '1')) },
  { flag: '--out', env: 'BENCH_OUT', apply: (o, v) => (o.outDir = v) },
  { flag: '--generator-step', env: 'BENCH_GENERATOR_STEP', apply: (o, v) => (o.generatorStepSec = numberIn('generator-step', v, 1)) },
  { flag: '--generator-rates', env: 'BENCH_GENERATOR_RATES', apply: (o, v) => (o.generatorRates = numberList('generator-rates', v, 1)) },
  { flag: '--generator-memory', env: 'BENCH_GENERATOR_MEMORY', apply: (o, v) => (o.generatorMemorySec = numberIn('generator-memory', v, 1)) },
  { flag: '--redis-requests', env: 'BENCH_REDIS_REQUESTS', apply: (o, v) => (o.redisRequests = Math.round(numberIn('redis-requests', v, 0))) },
  { flag: '--baseline', env: 'BENCH_BASELINE', apply: (o, v) => (o.baseline = gitRef(v)) },
  { flag: '--tracing', env: 'BENCH_TRACING', isSwitch: true, apply: (o, v) => (o.tracing = v === 'true' || v === '1') },
];

/** A ref as git takes it (a branch, tag or commit, `main~3`); anything else would reach git as an option. */
function gitRef(value: string): string {
  if (!/^[\w./~^@{}-]+$/.test(value) || value.startsWith('-')) throw new Error(`baseline: expected a git ref, got "${value}"`);
  return value;
}

/** Defaults, then BENCH_* variables, then flags (`--duration 5` or `--duration=5`; `--no-compile` takes no value). */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  return parseCli(argv, env, defaultOptions, fields, usage);
}

export function usage(): string {
  return [
    'usage: npm run bench -- [options]',
    ...fields.map((f) => `  ${f.flag.padEnd(20)} ${f.env}`),
    'see bench/README.md for what each one does',
  ].join('\n');
}
