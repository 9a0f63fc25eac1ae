import { join } from 'node:path';
import type { AppBuild } from '../harness/apps';
import { repoRoot } from '../harness/daprd';

export const scenarioNames = ['redis-kill', 'store-kill', 'store-daprd-kill', 'generator-daprd-kill', 'sentry-kill', 'store-slow'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

/** Everything a chaos run can be told; each field is a CLI flag and an environment variable (see chaos/README.md). */
export interface ChaosOptions {
  /** order-generator's ORDERS_PER_SECOND. */
  rate: number;
  /** Seconds of steady load, after the first accepted order, before the fault. */
  warmupSec: number;
  /** Seconds a killed process stays down before it is restarted. */
  faultSec: number;
  /** Seconds order-store stays slow in store-slow. */
  slowSec: number;
  /** How long store-slow holds each request: longer than the resiliency policy's 8s invoke timeout. */
  slowDelayMs: number;
  /** Seconds of load after the restart, before the generator is told to stop and drain. */
  recoverySec: number;
  /** The generator's SHUTDOWN_GRACE_MS, in seconds: how long it may take to deliver its backlog. */
  drainSec: number;
  scenarios: ScenarioName[];
  build: AppBuild;
  /** Where latest.json and latest.md go; every process's log goes to <outDir>/logs. */
  outDir: string;
}

export const defaultOptions: ChaosOptions = {
  rate: 50,
  warmupSec: 5,
  faultSec: 5,
  slowSec: 12,
  slowDelayMs: 10_000,
  recoverySec: 15,
  drainSec: 60,
  scenarios: [...scenarioNames],
  build: 'source',
  outDir: join(repoRoot, 'chaos', 'results'),
};

interface Field {
  flag: string;
  env: string;
  apply(options: ChaosOptions, value: string): void;
}

const number = (name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) throw new Error(`${name}: expected a number from ${min} to ${max}, got "${value}"`);
  return parsed;
};

const scenarioList = (value: string): ScenarioName[] => {
  const names = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  const known: readonly string[] = scenarioNames;
  for (const name of names) {
    if (!known.includes(name)) throw new Error(`scenarios: unknown "${name}"; expected some of ${scenarioNames.join(', ')}`);
  }
  if (names.length === 0) throw new Error('scenarios: expected at least one');
  return names as ScenarioName[];
};

const fields: Field[] = [
  { flag: '--rate', env: 'CHAOS_RATE', apply: (o, v) => (o.rate = number('rate', v, 0.1, 10_000)) },
  { flag: '--warmup', env: 'CHAOS_WARMUP', apply: (o, v) => (o.warmupSec = number('warmup', v, 0)) },
  { flag: '--fault', env: 'CHAOS_FAULT', apply: (o, v) => (o.faultSec = number('fault', v, 0)) },
  { flag: '--slow', env: 'CHAOS_SLOW', apply: (o, v) => (o.slowSec = number('slow', v, 0)) },
  { flag: '--slow-delay-ms', env: 'CHAOS_SLOW_DELAY_MS', apply: (o, v) => (o.slowDelayMs = Math.round(number('slow-delay-ms', v, 0))) },
  { flag: '--recovery', env: 'CHAOS_RECOVERY', apply: (o, v) => (o.recoverySec = number('recovery', v, 0)) },
  { flag: '--drain', env: 'CHAOS_DRAIN', apply: (o, v) => (o.drainSec = number('drain', v, 1, 120)) },
  { flag: '--scenarios', env: 'CHAOS_SCENARIOS', apply: (o, v) => (o.scenarios = scenarioList(v)) },
  {
    flag: '--build',
    env: 'CHAOS_BUILD',
    apply: (o, v) => {
      if (v !== 'dist' && v !== 'source') throw new Error(`build: expected source or dist, got "${v}"`);
      o.build = v;
    },
  },
  { flag: '--out', env: 'CHAOS_OUT', apply: (o, v) => (o.outDir = v) },
];

/** Defaults, then CHAOS_* variables, then flags (`--rate 20` or `--rate=20`). */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): ChaosOptions {
  const options: ChaosOptions = { ...defaultOptions, scenarios: [...defaultOptions.scenarios] };
  for (const field of fields) {
    const value = env[field.env];
    if (value !== undefined && value !== '') field.apply(options, value);
  }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new UsageRequest();
    const eq = arg.indexOf('=');
    const [flag, inline] = eq >= 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const field = fields.find((f) => f.flag === flag);
    if (!field) throw new Error(`unknown option ${arg}\n${usage()}`);
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
    'usage: npm run chaos -- [options]',
    ...fields.map((f) => `  ${f.flag.padEnd(16)} ${f.env}`),
    `scenarios: ${scenarioNames.join(', ')}`,
    'see chaos/README.md for what each one does',
  ].join('\n');
}
