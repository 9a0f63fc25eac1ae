import { join } from 'node:path';
import type { AppBuild } from '../harness/apps';
import { repoRoot } from '../harness/daprd';

/** Everything a bench run can be told; each field is a CLI flag and an environment variable (see bench/README.md). */
export interface BenchOptions {
  /** Concurrency levels: connections the load generator keeps busy. */
  levels: number[];
  /** Measured seconds per level and per target. */
  durationSec: number;
  /** Unmeasured seconds of load before each target's first level: JIT, connection pools, Redis. */
  warmupSec: number;
  build: AppBuild;
  /** Run `tsc -b` first so that dist/ matches the sources (build 'dist' only). */
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
}

export const defaultOptions: BenchOptions = {
  levels: [1, 4, 16, 64],
  durationSec: 10,
  warmupSec: 3,
  build: 'dist',
  compile: true,
  outDir: join(repoRoot, 'bench', 'results'),
  generatorStepSec: 8,
  generatorRates: [],
  generatorMemorySec: 60,
  redisRequests: 0,
};

interface Field {
  flag: string;
  env: string;
  apply(options: BenchOptions, value: string): void;
}

const positive = (name: string, value: string, min = 0): number => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min) throw new Error(`${name}: expected a number ≥ ${min}, got "${value}"`);
  return parsed;
};
const list = (name: string, value: string): number[] =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => positive(name, part, 1));

const fields: Field[] = [
  { flag: '--levels', env: 'BENCH_LEVELS', apply: (o, v) => (o.levels = list('levels', v).map(Math.round)) },
  { flag: '--duration', env: 'BENCH_DURATION', apply: (o, v) => (o.durationSec = positive('duration', v, 1)) },
  { flag: '--warmup', env: 'BENCH_WARMUP', apply: (o, v) => (o.warmupSec = positive('warmup', v)) },
  {
    flag: '--build',
    env: 'BENCH_BUILD',
    apply: (o, v) => {
      if (v !== 'dist' && v !== 'source') throw new Error(`build: expected dist or source, got "${v}"`);
      o.build = v;
    },
  },
  { flag: '--no-compile', env: 'BENCH_NO_COMPILE', apply: (o, v) => (o.compile = v === 'false' || v === '0') },
  { flag: '--out', env: 'BENCH_OUT', apply: (o, v) => (o.outDir = v) },
  { flag: '--generator-step', env: 'BENCH_GENERATOR_STEP', apply: (o, v) => (o.generatorStepSec = positive('generator-step', v, 1)) },
  { flag: '--generator-rates', env: 'BENCH_GENERATOR_RATES', apply: (o, v) => (o.generatorRates = list('generator-rates', v)) },
  { flag: '--generator-memory', env: 'BENCH_GENERATOR_MEMORY', apply: (o, v) => (o.generatorMemorySec = positive('generator-memory', v, 1)) },
  { flag: '--redis-requests', env: 'BENCH_REDIS_REQUESTS', apply: (o, v) => (o.redisRequests = Math.round(positive('redis-requests', v))) },
];

/** Defaults, then BENCH_* variables, then flags (`--duration 5` or `--duration=5`; `--no-compile` takes no value). */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const options: BenchOptions = { ...defaultOptions, levels: [...defaultOptions.levels] };
  for (const field of fields) {
    const value = env[field.env];
    if (value !== undefined && value !== '') field.apply(options, value);
  }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new UsageRequest();
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const field = fields.find((f) => f.flag === flag);
    if (!field) throw new Error(`unknown option ${arg}\n${usage()}`);
    if (flag === '--no-compile') {
      options.compile = false;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    field.apply(options, value);
  }
  return options;
}

export class UsageRequest extends Error {
  constructor() {
    super(usage());
    this.name = 'UsageRequest';
  }
}

export function usage(): string {
  return [
    'usage: npm run bench -- [options]',
    ...fields.map((f) => `  ${f.flag.padEnd(20)} ${f.env}`),
    'see bench/README.md for what each one does',
  ].join('\n');
}
