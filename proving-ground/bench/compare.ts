import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { topology } from '@orders/common';
import { ATTEMPT_HEADER } from '@orders/contract';
import { startOrderStore } from '../harness/apps';
import { deployedEnv } from '../harness/deployed';
import { repoRoot } from '../harness/daprd';
import { waitFor } from '../../dev/src/processes';
import { type Jaeger, startJaeger } from '../../dev/src/jaeger';
import { type Rig, compileIfAsked, describeMachine, flushRedis, measureTarget, pathAnswers, startRig } from './bench';
import type { LatencyFigure } from './dapr-metrics';
import { type Checkout, checkOut } from './checkout';
import { type RateStep, measureRate } from './generator';
import { nextOrderId, orderBody } from './load';
import { type BenchOptions, RSS_SHARE_OF_LIMIT, rssBudgetMb } from './options';
import { type Watched, round } from './procstat';

/** The two builds a comparison runs: another commit's apps (baseline) and this checkout's (candidate). */
export type BuildLabel = 'baseline' | 'candidate';
const LABELS: BuildLabel[] = ['baseline', 'candidate'];

/** One build's order path at one level in one round. */
export interface PathFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError?: string;
  /** order-store's CPU per order, and that of every process on the path (sidecars, Redis and the load generator included). */
  storeCpuMsPerOrder: number;
  pathCpuMsPerOrder: number;
  /** Each process's CPU per order, by name. */
  cpuMsPerOrder: Record<string, number>;
  /** State requests order-store made per order it was sent (its sidecar's own counts): how well its writes are batched. */
  stateRequestsPerOrder: number;
  storePeakRssMb: number;
}

/**
 * State requests order-store's sidecar served per order it passed to order-store, from the
 * sidecar's own request counts over the same window (so the rate probe before a run counts on
 * both sides).
 */
export function stateRequestsPerOrder(storeSidecarLatencies: LatencyFigure[] = []): number {
  const count = (matches: (metric: string) => boolean) => storeSidecarLatencies.filter((f) => matches(f.metric)).reduce((sum, f) => sum + f.count, 0);
  const stateRequests = count((m) => m.startsWith('dapr_http_server_latency{') && m.includes('method="POST"') && /path="\/v1\.0\/state\/[^/"]+"/.test(m));
  const orders = count((m) => m.startsWith('dapr_http_client_roundtrip_latency{') && m.includes('path="/neworder"'));
  return orders > 0 ? round(stateRequests / orders, 3) : 0;
}

export interface ComparedLevel {
  connections: number;
  /** In the order measured; `first` is the build measured first in that round (they alternate). */
  rounds: Array<{ first: BuildLabel; baseline: PathFigures; candidate: PathFigures; ratio: number }>;
  /** Candidate ÷ baseline throughput: the median of the rounds' ratios (the lower middle one for an even count). */
  medianRatio: number;
}

export interface ComparedRate {
  ratePerSec: number;
  rounds: Array<{ first: BuildLabel; baseline: RateStep; candidate: RateStep; cpuRatio: number }>;
  /** Candidate ÷ baseline CPU per accepted order, the median of the rounds'. */
  medianCpuRatio: number;
}

export interface CompareResults {
  generatedAt: string;
  options: Omit<BenchOptions, 'outDir'>;
  machine: Record<string, string | number>;
  builds: Record<BuildLabel, { ref: string; commit: string }>;
  levels: ComparedLevel[];
  generator: ComparedRate[];
  /** Highest RSS of each app of each build over the whole run, in MB. */
  peakRssMb: Record<BuildLabel, { 'order-store': number; 'order-generator': number }>;
  checks: Array<{ target: string; pass: boolean; detail: string }>;
}

/** The middle value, the lower of the middle two for an even count (as the bench's rounds pick). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

/** Baseline first in odd rounds, candidate first in even ones: a drift during the run favours neither. */
export const orderOfRound = (round: number): BuildLabel[] => (round % 2 === 1 ? ['baseline', 'candidate'] : ['candidate', 'baseline']);

/**
 * `npm run bench -- --baseline <ref>`: this checkout's apps against another commit's, on the same
 * Redis, Sentry and sidecars, in alternating rounds. Each round measures the order path at every
 * level with the one build's order-store and then the other's, and order-generator of each at
 * the same rates; a ratio is taken within a round, where both builds met the same machine.
 */
export async function runComparison(options: BenchOptions, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<CompareResults> {
  await compileIfAsked(options, log);
  let checkout: Checkout | undefined;
  if (!options.tracing) {
    log(`checking out ${options.baseline}`);
    checkout = await checkOut(options.baseline, options.build, log);
  }
  const started: Array<{ stop(): Promise<unknown> }> = [];
  try {
    const machine = await describeMachine();
    const candidateCommit = `${String(machine.gitCommit)}${(await hasUncommittedChanges()) ? ' with uncommitted changes' : ''}`;
    if (checkout) machine.baselineNodeModules = checkout.nodeModules;
    const roots: Record<BuildLabel, string> = { baseline: checkout?.root ?? repoRoot, candidate: repoRoot };
    const builds: CompareResults['builds'] = checkout
      ? { baseline: { ref: checkout.ref, commit: checkout.commit }, candidate: { ref: 'this checkout', commit: candidateCommit } }
      : { baseline: { ref: 'tracing off', commit: candidateCommit }, candidate: { ref: `tracing on, sampling rate ${topology.tracing.samplingRate.deployed}`, commit: candidateCommit } };
    const self: Watched = { name: 'load generator', pid: process.pid };
    // --tracing: each side has sidecars of its own, with Dapr's tracing off (samplingRate 0) or on
    // at the default rate exporting to a real Jaeger, and apps told the same (appEnv).
    let jaeger: Jaeger | undefined;
    const rigs = {} as Record<BuildLabel, Rig>;
    const appEnv: Record<BuildLabel, Record<string, string>> = { baseline: {}, candidate: {} };
    if (options.tracing) {
      jaeger = await startJaeger();
      started.push(jaeger);
      rigs.baseline = await startRig(options, log, { samplingRate: '0' });
      started.push(rigs.baseline);
      rigs.candidate = await startRig(options, log, { samplingRate: topology.tracing.samplingRate.deployed, otlpAddress: jaeger.otlpAddress });
      started.push(rigs.candidate);
      appEnv.baseline = { TRACE_SAMPLING_RATE: '0' };
      appEnv.candidate = { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint };
    } else {
      rigs.baseline = rigs.candidate = await startRig(options, log);
      started.push(rigs.baseline);
    }
    {
      const startStore = (label: BuildLabel) =>
        startOrderStore({
          daprHttpPort: rigs[label].storeSidecar.httpPort,
          port: rigs[label].storePort,
          build: options.build,
          root: roots[label],
          env: { ...deployedEnv('order-store', roots[label]), ...appEnv[label] },
        });

      const levels: ComparedLevel[] = options.levels.map((connections) => ({ connections, rounds: [], medianRatio: 0 }));
      for (let r = 1; r <= options.rounds; r += 1) {
        const measured: Partial<Record<BuildLabel, PathFigures[]>> = {};
        for (const label of orderOfRound(r)) {
          const { redis, storeSidecar, generatorSidecar, invokeUrl } = rigs[label];
          log(`order path, ${label} order-store (${builds[label].ref}, ${builds[label].commit}) from ${options.build} (round ${r} of ${options.rounds})`);
          const store = await startStore(label);
          const watched: Watched[] = [
            { name: 'order-store', pid: store.proc.pid },
            ...[storeSidecar, generatorSidecar].map((s) => ({ name: `daprd:${s.appId}`, pid: s.proc.pid })),
            { name: 'redis', pid: redis.proc.pid },
            self,
          ];
          const spec = { url: invokeUrl, body: orderBody, headers: { [ATTEMPT_HEADER]: '1' } };
          const target = await measureTarget('orderPath', label, spec, watched, [storeSidecar, generatorSidecar], options, log);
          measured[label] = target.levels.map((level) => {
            const cpu = Object.values(level.cpuMsPerRequest).reduce((sum, ms) => sum + ms, 0);
            return {
              rps: level.rps,
              p50Ms: level.p50Ms,
              p99Ms: level.p99Ms,
              errors: level.errors,
              ...(level.firstError === undefined ? {} : { firstError: level.firstError }),
              storeCpuMsPerOrder: level.cpuMsPerRequest['order-store'] ?? 0,
              pathCpuMsPerOrder: round(cpu, 3),
              cpuMsPerOrder: level.cpuMsPerRequest,
              stateRequestsPerOrder: stateRequestsPerOrder(level.daprLatencies[`daprd:${storeSidecar.appId}`]),
              storePeakRssMb: level.processes.find((p) => p.name === 'order-store')?.peakRssMb ?? 0,
            };
          });
          await store.stop();
          await flushRedis(redis);
        }
        levels.forEach((level, i) => {
          const baseline = measured.baseline![i]!;
          const candidate = measured.candidate![i]!;
          level.rounds.push({ first: orderOfRound(r)[0]!, baseline, candidate, ratio: baseline.rps > 0 ? round(candidate.rps / baseline.rps, 3) : 0 });
        });
      }
      for (const level of levels) level.medianRatio = median(level.rounds.map((x) => x.ratio));

      // order-generator of each build at the same rates, in front of one order-store (the
      // candidate's; with --tracing, each side's own, traced as its generator is).
      const bestBaseline = Math.max(...levels.map((level) => median(level.rounds.map((x) => x.baseline.rps))));
      const rates = options.generatorRates.length ? options.generatorRates : [0.5, 0.85].map((f) => Math.max(10, Math.round((f * bestBaseline) / 10) * 10));
      const generator: ComparedRate[] = rates.map((ratePerSec) => ({ ratePerSec, rounds: [], medianCpuRatio: 0 }));
      const storeLabels: BuildLabel[] = options.tracing ? LABELS : ['candidate'];
      const stores = await Promise.all(storeLabels.map((label) => startStore(label)));
      try {
        for (const label of storeLabels) await waitFor('order path to answer', () => pathAnswers(rigs[label].invokeUrl, orderBody(nextOrderId())), 30_000);
        for (let r = 1; r <= options.rounds; r += 1) {
          for (const compared of generator) {
            const steps: Partial<Record<BuildLabel, RateStep>> = {};
            for (const label of orderOfRound(r)) {
              const step = await measureRate(rigs[label].generatorSidecar, compared.ratePerSec, options.generatorStepSec, { build: options.build, root: roots[label], env: appEnv[label] });
              steps[label] = step;
              log(`  ${label} order-generator at ${compared.ratePerSec}/s (round ${r}): accepted ${step.acceptedPerSec}/s, ${step.cpuMsPerOrder} ms CPU per order, ${step.peakRssMb} MB`);
            }
            const { baseline, candidate } = steps as Record<BuildLabel, RateStep>;
            compared.rounds.push({ first: orderOfRound(r)[0]!, baseline, candidate, cpuRatio: baseline.cpuMsPerOrder > 0 ? round(candidate.cpuMsPerOrder / baseline.cpuMsPerOrder, 3) : 0 });
          }
        }
      } finally {
        for (const store of stores) await store.stop();
      }
      for (const compared of generator) compared.medianCpuRatio = median(compared.rounds.map((x) => x.cpuRatio));
      machine.loadAverageAtEnd = loadavg().map((l) => round(l, 2)).join(' ');
      return summariseComparison(options, machine, builds, levels, generator);
    }
  } finally {
    for (const part of started.reverse()) await part.stop();
    checkout?.remove();
  }
}

async function hasUncommittedChanges(): Promise<boolean> {
  const { stdout } = await promisify(execFile)('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, timeout: 10_000 });
  return stdout.trim() !== '';
}

/** Candidate throughput at least this fraction of the baseline's (median round), at every level. */
const THROUGHPUT_FLOOR = 0.95;
/** Candidate p99 at most this multiple of the baseline's (medians of the rounds), at every level. */
const P99_CEILING = 1.1;

const p99Of = (level: ComparedLevel, label: BuildLabel) => median(level.rounds.map((x) => x[label].p99Ms));

export function summariseComparison(
  options: BenchOptions,
  machine: Record<string, string | number>,
  builds: CompareResults['builds'],
  levels: ComparedLevel[],
  generator: ComparedRate[],
): CompareResults {
  const peak = (label: BuildLabel) => ({
    'order-store': Math.max(0, ...levels.flatMap((level) => level.rounds.map((x) => x[label].storePeakRssMb))),
    'order-generator': Math.max(0, ...generator.flatMap((rate) => rate.rounds.map((x) => x[label].peakRssMb))),
  });
  const peakRssMb = { baseline: peak('baseline'), candidate: peak('candidate') };
  const errors = (label: BuildLabel) => levels.map((level) => ({ connections: level.connections, errors: level.rounds.reduce((sum, x) => sum + x[label].errors, 0) }));
  const checks: CompareResults['checks'] = [
    {
      target: `candidate ÷ baseline order-path throughput ≥ ${THROUGHPUT_FLOOR} at every level (median round)`,
      pass: levels.every((level) => level.medianRatio >= THROUGHPUT_FLOOR),
      detail: levels.map((level) => `c=${level.connections}: ${level.medianRatio}`).join(', '),
    },
    {
      target: `candidate p99 ≤ ${P99_CEILING} × baseline p99 at every level (medians of the rounds)`,
      pass: levels.every((level) => p99Of(level, 'candidate') <= P99_CEILING * p99Of(level, 'baseline')),
      detail: levels.map((level) => `c=${level.connections}: ${p99Of(level, 'baseline')} → ${p99Of(level, 'candidate')} ms`).join(', '),
    },
    ...LABELS.map((label) => {
      const failed = errors(label).filter((e) => e.errors > 0);
      return {
        target: `zero errors on the order path, ${label}`,
        pass: failed.length === 0,
        detail: failed.length ? failed.map((e) => `c=${e.connections}: ${e.errors}`).join(', ') : 'none in any round',
      };
    }),
    ...(['order-store', 'order-generator'] as const).map((app) => ({
      target: `${app} peak RSS ≤ ${rssBudgetMb(app)} MB (${RSS_SHARE_OF_LIMIT * 100}% of deploy/'s limit), candidate`,
      pass: peakRssMb.candidate[app] > 0 && peakRssMb.candidate[app] <= rssBudgetMb(app),
      detail: `${peakRssMb.candidate[app]} MB (baseline ${peakRssMb.baseline[app]} MB)`,
    })),
  ];
  const { outDir: _outDir, ...recorded } = options;
  return { generatedAt: new Date().toISOString(), options: recorded, machine, builds, levels, generator, peakRssMb, checks };
}

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const medianOf = (values: number[]) => round(median(values), 3);

export function renderComparison(results: CompareResults): string {
  const { baseline, candidate } = results.builds;
  const m = results.machine;
  const n = results.options.rounds;
  const lines: string[] = [
    `Measured ${results.generatedAt} on ${m.cores} cores (${m.cpuModel}), Node ${m.node}, daprd ${m.daprd}; baseline ${baseline.ref} (${baseline.commit}) against candidate ${candidate.commit} (${candidate.ref}), apps from ${results.options.build}, each with its own Dockerfile CMD and deploy/ settings. ${n} round${n === 1 ? '' : 's'} of ${results.options.durationSec}s per level and build, ${results.options.tracing ? 'each side on sidecars (and Redis) of its own, configured for it, spans to a real Jaeger' : 'on the same sidecars and Redis'}; the build measured first alternates. Load average ${m.loadAverageAtStart} at start, ${m.loadAverageAtEnd ?? '?'} at end.`,
    '',
    '### Order path: candidate ÷ baseline throughput',
    '',
    row(['connections', ...Array.from({ length: n }, (_, i) => `round ${i + 1}`), 'median', 'baseline req/s', 'candidate req/s', 'errors (baseline / candidate)']),
    row(Array<string>(n + 5).fill('---:')),
  ];
  for (const level of results.levels) {
    const rps = (label: BuildLabel) => level.rounds.map((x) => x[label].rps).join(' / ');
    const errors = (label: BuildLabel) => level.rounds.reduce((sum, x) => sum + x[label].errors, 0);
    lines.push(row([level.connections, ...level.rounds.map((x) => `${x.ratio}${x.first === 'baseline' ? '' : '¹'}`), `**${level.medianRatio}**`, rps('baseline'), rps('candidate'), `${errors('baseline')} / ${errors('candidate')}`]));
  }
  lines.push(
    '',
    '¹ the candidate was measured first in that round. Req/s of each round, in the order measured.',
    '',
    '### Order path: latency, CPU and memory (medians of the rounds)',
    '',
    row(['connections', 'p50 ms', 'p99 ms', 'order-store CPU ms/order', 'path CPU ms/order', 'state requests per order', 'order-store peak RSS MB']),
    row(Array<string>(7).fill('---:')),
  );
  for (const level of results.levels) {
    const both = (figure: (f: PathFigures) => number, pick: (values: number[]) => number = medianOf) =>
      `${pick(level.rounds.map((x) => figure(x.baseline)))} → ${pick(level.rounds.map((x) => figure(x.candidate)))}`;
    lines.push(
      row([
        level.connections,
        both((f) => f.p50Ms),
        both((f) => f.p99Ms),
        both((f) => f.storeCpuMsPerOrder),
        both((f) => f.pathCpuMsPerOrder),
        both((f) => f.stateRequestsPerOrder),
        both((f) => f.storePeakRssMb, (values) => Math.max(...values)),
      ]),
    );
  }
  lines.push('', 'Each cell is baseline → candidate; peak RSS is the highest of the rounds. CPU ms per order of each process on the path:', '');
  const processes = [...new Set(results.levels.flatMap((level) => level.rounds.flatMap((x) => [...Object.keys(x.baseline.cpuMsPerOrder), ...Object.keys(x.candidate.cpuMsPerOrder)])))];
  lines.push(row(['connections', ...processes]), row(Array<string>(processes.length + 1).fill('---:')));
  for (const level of results.levels) {
    const both = (name: string) => LABELS.map((label) => medianOf(level.rounds.map((x) => x[label].cpuMsPerOrder[name] ?? 0))).join(' → ');
    lines.push(row([level.connections, ...processes.map(both)]));
  }
  lines.push(
    '',
    'Medians of the rounds, baseline → candidate.',
    '',
    '### order-generator at the same rates (medians of the rounds)',
    '',
    row(['rate /s', 'accepted /s', 'CPU ms/order', 'CPU ratio per round', 'median CPU ratio', 'peak RSS MB', 'retries', 'rounds held']),
    row(Array<string>(8).fill('---:')),
  );
  for (const rate of results.generator) {
    const both = (figure: (s: RateStep) => number, pick: (values: number[]) => number = medianOf) =>
      `${pick(rate.rounds.map((x) => figure(x.baseline)))} → ${pick(rate.rounds.map((x) => figure(x.candidate)))}`;
    const sum = (values: number[]) => values.reduce((a, v) => a + v, 0);
    const held = (label: BuildLabel) => rate.rounds.filter((x) => x[label].held).length;
    lines.push(
      row([
        rate.ratePerSec,
        both((s) => s.acceptedPerSec),
        both((s) => s.cpuMsPerOrder),
        rate.rounds.map((x) => x.cpuRatio).join(' / '),
        `**${rate.medianCpuRatio}**`,
        both((s) => s.peakRssMb, (values) => Math.max(...values)),
        both((s) => s.retries, sum),
        `${held('baseline')} → ${held('candidate')} of ${rate.rounds.length}`,
      ]),
    );
  }
  lines.push('', '### Targets', '', row(['target', 'met', 'measured']), row(['---', ':---:', '---']));
  lines.push(...results.checks.map((c) => row([c.target, c.pass ? 'yes' : '**no**', c.detail])), '');
  return lines.join('\n');
}

export function writeComparison(results: CompareResults, outDir: string): { json: string; markdown: string } {
  mkdirSync(outDir, { recursive: true });
  const files = { json: join(outDir, 'compare.json'), markdown: join(outDir, 'compare.md') };
  writeFileSync(files.json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(files.markdown, `${renderComparison(results)}\n`);
  return files;
}
