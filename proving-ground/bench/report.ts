import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResults, LevelFigures } from '../bench/bench';
import { renderChart } from './chart';
import { round } from './procstat';

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;

export interface CpuAttribution {
  connections: number;
  /** CPU ms per order of every process on the order path. */
  orderPath: number;
  /** CPU ms per request of ceiling (1) plus ceiling (2): an invocation and a state write, measured apart. */
  ceilings: number;
  /** order-store's CPU per order beyond the no-op app's: what our code adds to the path. */
  orderStoreAdds: number;
  /** The sidecars' and Redis's CPU per order beyond what the same calls cost them in the ceilings. */
  daprAndRedisAdd: number;
  /** The load generator's, which the ceilings count twice (it drives both). */
  loadGeneratorAdds: number;
}

const sum = (values: number[]) => values.reduce((a, v) => a + v, 0);
const ms = (value: number) => round(value, 3);

/**
 * Where the order path's CPU per order goes beyond ceilings (1) and (2) together, process by
 * process, at each level. Below saturation throughput follows the wake-ups more than the CPU, but
 * at 4 connections and up the two cores are busy and this is what sets ratioToCeiling.
 */
export function cpuAttribution(results: BenchResults): CpuAttribution[] {
  const { orderPath, invokeCeiling, stateCeiling } = results.targets;
  return orderPath.levels.map((level, i) => {
    const path = level.cpuMsPerRequest;
    const invoke = invokeCeiling.levels[i]?.cpuMsPerRequest ?? {};
    const state = stateCeiling.levels[i]?.cpuMsPerRequest ?? {};
    const of = (figures: Record<string, number>, keep: (name: string) => boolean) =>
      sum(Object.entries(figures).filter(([name]) => keep(name)).map(([, value]) => value));
    const daprOrRedis = (name: string) => name.startsWith('daprd:') || name === 'redis';
    const loadGenerator = (name: string) => name === 'load generator';
    return {
      connections: level.connections,
      orderPath: ms(of(path, () => true)),
      ceilings: ms(of(invoke, () => true) + of(state, () => true)),
      orderStoreAdds: ms((path['order-store'] ?? 0) - (invoke['noop-app'] ?? 0)),
      daprAndRedisAdd: ms(of(path, daprOrRedis) - of(invoke, daprOrRedis) - of(state, daprOrRedis)),
      loadGeneratorAdds: ms(of(path, loadGenerator) - of(invoke, loadGenerator) - of(state, loadGenerator)),
    };
  });
}

/** The results as markdown: the table the README shows, then memory, CPU, the generator and the targets. */
export function renderMarkdown(results: BenchResults): string {
  const { orderPath, invokeCeiling, stateCeiling } = results.targets;
  const m = results.machine;
  const lines: string[] = [
    `Measured ${results.generatedAt} on ${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB, Linux ${m.kernel}; Node ${m.node}, daprd ${m.daprd}, ${m.redis}, autocannon ${m.autocannon}; commit ${m.gitCommit}. ${results.options.durationSec}s per level after ${results.options.warmupSec}s of warm-up, apps from ${results.options.build} with deploy/'s settings (LOG_LEVEL ${m.appLogLevel}); each level's figures come from one of ${results.options.rounds} round${results.options.rounds === 1 ? '' : 's'}, the one whose ratioToCeiling is the median (every round's req/s and ratio below). Load average ${m.loadAverageAtStart} at start, ${m.loadAverageAtEnd ?? '?'} at end.`,
    '',
    '### Throughput and latency',
    '',
    row(['connections', 'order path req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', '(1) invoke req/s', '(1) p99 ms', '(2) state req/s', '(2) p99 ms', '(1)+(2) in series req/s', 'ratioToCeiling', '(3) redis SET req/s']),
    row(Array<string>(13).fill('---:')),
  ];
  orderPath.levels.forEach((level, i) => {
    const invoke = invokeCeiling.levels[i];
    const state = stateCeiling.levels[i];
    lines.push(
      row([
        level.connections,
        level.rps,
        level.p50Ms,
        level.p90Ms,
        level.p99Ms,
        level.errors,
        invoke?.rps ?? '',
        invoke?.p99Ms ?? '',
        state?.rps ?? '',
        state?.p99Ms ?? '',
        results.seriesCeiling[i]?.rps ?? '',
        `**${results.ratioToCeiling[i]?.ratio ?? ''}**`,
        results.redisBenchmark[i]?.rps ?? '',
      ]),
    );
  });

  lines.push(
    '',
    'Each round, in the order measured: req/s of each target, and ratioToCeiling within the round (the three targets measured back to back):',
    '',
    row(['connections', 'order path', '(1) invoke', '(2) state', 'ratioToCeiling']),
    row(Array<string>(5).fill('---:')),
  );
  orderPath.levels.forEach((level, i) => {
    const rounds = (l: { roundsRps: number[] } | undefined) => l?.roundsRps.join(' / ') ?? '';
    const ratios = results.ratioToCeiling[i]?.roundRatios.join(' / ') ?? '';
    lines.push(row([level.connections, rounds(level), rounds(invokeCeiling.levels[i]), rounds(stateCeiling.levels[i]), ratios]));
  });

  lines.push('', '### Peak RSS (MB)', '');
  const names = [...new Set(Object.values(results.targets).flatMap((t) => t.levels.flatMap((l) => l.processes.map((p) => p.name))))];
  lines.push(row(['target', ...names]), row(Array<string>(names.length + 1).fill('---:')));
  for (const target of Object.values(results.targets)) {
    const peak = (name: string) => {
      const values = target.levels.flatMap((l) => l.processes.filter((p) => p.name === name).map((p) => p.peakRssMb));
      return values.length ? Math.max(...values) : '';
    };
    lines.push(row([target.name, ...names.map(peak)]));
  }
  lines.push('', `order-generator, in its own run: ${results.peakRssMb['order-generator']} MB.`, '');

  const perProcessTables = (heading: string, explanation: string, figure: (level: LevelFigures) => Record<string, number>) => {
    lines.push(heading, '', explanation, '');
    for (const target of [orderPath, invokeCeiling, stateCeiling]) {
      const names = Object.keys(target.levels[0] ? figure(target.levels[0]) : {});
      lines.push(`${target.name}:`, '', row(['connections', ...names, 'sum']), row(Array<string>(names.length + 2).fill('---:')));
      for (const level of target.levels) {
        const figures = figure(level);
        const values = names.map((n) => figures[n]);
        const sum = values.reduce<number>((a, v) => a + (v ?? 0), 0);
        lines.push(row([level.connections, ...values.map((v) => (v === undefined ? '' : v)), Math.round(sum * 1000) / 1000]));
      }
      lines.push('');
    }
  };
  perProcessTables(
    '### CPU per request (ms)',
    'CPU time each process spent per completed request: on 2 cores, throughput at saturation ≈ 2000 ms ÷ the sum.',
    (level) => level.cpuMsPerRequest,
  );
  perProcessTables(
    '### Context switches per request',
    "Each process's threads, voluntary and not: the wake-ups behind that CPU, and what a path with more processes pays for its hops.",
    (level) => level.contextSwitchesPerRequest,
  );

  lines.push(
    '### Where the order path spends more than the ceilings',
    '',
    'CPU ms per order of the order path against ceilings (1) and (2) together, split by who spends the difference: order-store beyond the no-op app is what our code adds; the sidecars and Redis doing the same calls in one path rather than apart is what Dapr adds.',
    '',
    row(['connections', 'order path', '(1) + (2)', 'order-store beyond the no-op app', 'sidecars and Redis beyond the ceilings', 'load generator beyond the ceilings', "order-store's addition ÷ (1) + (2)"]),
    row(Array<string>(7).fill('---:')),
    ...cpuAttribution(results).map((a) =>
      row([a.connections, a.orderPath, a.ceilings, a.orderStoreAdds, a.daprAndRedisAdd, a.loadGeneratorAdds, a.ceilings > 0 ? `${round((a.orderStoreAdds / a.ceilings) * 100, 1)}%` : '']),
    ),
    '',
  );

  const g = results.generator;
  lines.push('### order-generator', '');
  lines.push(row(['configured /s', 'accepted /s', 'held', 'retries', 'backlog at end', 'CPU ms/order', 'peak RSS MB']), row(Array<string>(7).fill('---:')));
  for (const s of g.steps) lines.push(row([s.configuredPerSec, s.acceptedPerSec, s.held ? 'yes' : 'no', s.retries, s.backlogAtEnd, s.cpuMsPerOrder, s.peakRssMb]));
  lines.push(
    '',
    `Highest steady rate: **${g.steadyRatePerSec}/s** (accepted ${g.acceptedAtSteadyPerSec}/s). Memory over ${g.memory.durationSec}s at ${g.memory.ratePerSec}/s (accepted ${g.memory.acceptedPerSec}/s): ${g.memory.baselineRssMb} MB → ${g.memory.endRssMb} MB (${g.memory.growthPct}%), peak ${g.memory.peakRssMb} MB.`,
    '',
    '### Targets',
    '',
    row(['target', 'met', 'measured']),
    row(['---', ':---:', '---']),
    ...results.checks.map((c) => row([c.target, c.pass ? 'yes' : '**no**', c.detail])),
    '',
  );
  return lines.join('\n');
}

export interface WrittenFiles {
  json: string;
  markdown: string;
  chart: string;
}

export function writeResults(results: BenchResults, outDir: string): WrittenFiles {
  mkdirSync(outDir, { recursive: true });
  const files = { json: join(outDir, 'latest.json'), markdown: join(outDir, 'latest.md'), chart: join(outDir, 'latest.svg') };
  writeFileSync(files.json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(files.markdown, `${renderMarkdown(results)}\n![throughput and p99 against concurrency](latest.svg)\n`);
  writeFileSync(files.chart, renderChart(results));
  return files;
}
