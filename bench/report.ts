import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResults, LevelFigures } from './bench';
import { renderChart } from './chart';

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;

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
    row(Array(13).fill('---:')),
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
    row(Array(5).fill('---:')),
  );
  orderPath.levels.forEach((level, i) => {
    const rounds = (l: { roundsRps: number[] } | undefined) => l?.roundsRps.join(' / ') ?? '';
    const ratios = results.ratioToCeiling[i]?.roundRatios.join(' / ') ?? '';
    lines.push(row([level.connections, rounds(level), rounds(invokeCeiling.levels[i]), rounds(stateCeiling.levels[i]), ratios]));
  });

  lines.push('', '### Peak RSS (MB)', '');
  const names = [...new Set(Object.values(results.targets).flatMap((t) => t.levels.flatMap((l) => l.processes.map((p) => p.name))))];
  lines.push(row(['target', ...names]), row(Array(names.length + 1).fill('---:')));
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
      lines.push(`${target.name}:`, '', row(['connections', ...names, 'sum']), row(Array(names.length + 2).fill('---:')));
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

  const g = results.generator;
  lines.push('### order-generator', '');
  lines.push(row(['configured /s', 'accepted /s', 'held', 'retries', 'backlog at end', 'CPU ms/order', 'peak RSS MB']), row(Array(7).fill('---:')));
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
