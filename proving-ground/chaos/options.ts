import { join } from 'node:path';
import type { AppBuild } from '../harness/apps';
import { type CliOption, appBuild, numberIn, parseCli } from '../harness/cli';
import { repoRoot } from '../harness/daprd';

export const scenarioNames = ['redis-kill', 'store-kill', 'store-replica-kill', 'store-daprd-kill', 'generator-daprd-kill', 'sentry-kill', 'store-slow'] as const;
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
  outDir: join(repoRoot, 'proving-ground', 'chaos', 'results'),
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

const fields: CliOption<ChaosOptions>[] = [
  { flag: '--rate', env: 'CHAOS_RATE', apply: (o, v) => (o.rate = numberIn('rate', v, 0.1, 10_000)) },
  { flag: '--warmup', env: 'CHAOS_WARMUP', apply: (o, v) => (o.warmupSec = numberIn('warmup', v, 0)) },
  { flag: '--fault', env: 'CHAOS_FAULT', apply: (o, v) => (o.faultSec = numberIn('fault', v, 0)) },
  { flag: '--slow', env: 'CHAOS_SLOW', apply: (o, v) => (o.slowSec = numberIn('slow', v, 0)) },
  { flag: '--slow-delay-ms', env: 'CHAOS_SLOW_DELAY_MS', apply: (o, v) => (o.slowDelayMs = Math.round(numberIn('slow-delay-ms', v, 0))) },
  { flag: '--recovery', env: 'CHAOS_RECOVERY', apply: (o, v) => (o.recoverySec = numberIn('recovery', v, 0)) },
  { flag: '--drain', env: 'CHAOS_DRAIN', apply: (o, v) => (o.drainSec = numberIn('drain', v, 1, 120)) },
  { flag: '--scenarios', env: 'CHAOS_SCENARIOS', apply: (o, v) => (o.scenarios = scenarioList(v)) },
  { flag: '--build', env: 'CHAOS_BUILD', apply: (o, v) => (o.build = appBuild(v)) },
  { flag: '--out', env: 'CHAOS_OUT', apply: (o, v) => (o.outDir = v) },
];

/** Defaults, then CHAOS_* variables, then flags (`--rate 20` or `--rate=20`). */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): ChaosOptions {
  return parseCli(argv, env, defaultOptions, fields, usage);
}

export function usage(): string {
  return [
    'usage: npm run chaos -- [options]',
    ...fields.map((f) => `  ${f.flag.padEnd(16)} ${f.env}`),
    `scenarios: ${scenarioNames.join(', ')}`,
    'see chaos/README.md for what each one does',
  ].join('\n');
}
