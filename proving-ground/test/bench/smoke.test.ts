import { expect } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchResults, runBench } from '../../bench/bench';
import { type CompareResults, runComparison, writeComparison } from '../../bench/compare';
import { type BenchOptions, defaultOptions } from '../../bench/options';
import { renderMarkdown, writeResults } from '../../bench/report';
import { runningProcesses, stopAll } from '../../../dev/src/processes';

/** Every part of a run for a second or two, from source (nothing to compile), two rounds. */
const miniature = (outDir: string): BenchOptions => ({
  ...defaultOptions,
  durationSec: 1,
  rounds: 2,
  warmupSec: 0,
  build: 'source',
  compile: false,
  outDir,
  generatorStepSec: 1,
});

/** A fresh output directory for one describe block, removed with what the run left running. */
function scratchOutDir(prefix: string): string {
  const outDir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(async () => {
    await stopAll(3_000);
    expect(runningProcesses()).toEqual([]);
    rmSync(outDir, { recursive: true, force: true });
  });
  return outDir;
}

// Keeps `npm run bench` working: every part of it runs for a second or two, and only the shape of
// what it reports is checked. Timings are never asserted; this machine is shared.
describe('npm run bench, in miniature', () => {
  const outDir = scratchOutDir('orders-bench-smoke-');
  let results: BenchResults;

  beforeAll(async () => {
    results = await runBench({ ...miniature(outDir), levels: [1, 2], generatorRates: [5, 10], generatorMemorySec: 3, redisRequests: 2_000 }, () => undefined);
  }, 240_000);

  test('every target reports every level with figures', () => {
    for (const target of Object.values(results.targets)) {
      expect(target.levels.map((l) => l.connections)).toEqual([1, 2]);
      for (const level of target.levels) {
        expect(level.requests).toBeGreaterThan(0);
        expect(Number.isFinite(level.rps)).toBe(true);
        expect(Number.isFinite(level.p99Ms)).toBe(true);
        expect(level.processes.length).toBeGreaterThan(0);
        expect(level.roundsRps).toHaveLength(2);
        expect(level.roundsRps).toContain(level.rps);
        for (const p of level.processes) expect(p.peakRssMb).toBeGreaterThan(0);
        // A sidecar waits on a socket at least once for each request it passes on.
        const sidecars = Object.entries(level.contextSwitchesPerRequest).filter(([name]) => name.startsWith('daprd:'));
        expect(sidecars.length).toBeGreaterThan(0);
        for (const [, switches] of sidecars) expect(switches).toBeGreaterThan(0);
      }
    }
    expect(results.ratioToCeiling.map((r) => r.connections)).toEqual([1, 2]);
    results.ratioToCeiling.forEach(({ ratio, roundRatios }, i) => {
      // Two rounds: the level is the round with the lower ratio, the lower of the middle two, for all three targets.
      expect(roundRatios).toHaveLength(2);
      expect(ratio).toBe(Math.min(...roundRatios));
      const round = roundRatios.indexOf(ratio);
      for (const target of Object.values(results.targets)) expect(target.levels[i]!.rps).toBe(target.levels[i]!.roundsRps[round]);
    });
    expect(results.redisBenchmark).toHaveLength(2);
    expect(results.redisBenchmark.every((r) => r.rps > 0)).toBe(true);
  });

  test('peak RSS is reported for each app and each daprd', () => {
    for (const name of ['order-store', 'order-generator', 'daprd:order-store', 'daprd:order-generator', 'noop-app']) {
      expect(results.peakRssMb[name]).toBeGreaterThan(0);
    }
  });

  test('order-generator is measured at its rates and over time', () => {
    expect(results.generator.steps.length).toBeGreaterThan(0);
    expect(results.generator.memory.samples).toHaveLength(3);
    expect(results.generator.memory.samples.every(([, mb]) => mb > 0)).toBe(true);
  });

  test('latest.json, latest.md and latest.svg are written where asked', () => {
    const files = writeResults(results, outDir);
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ ratioToCeiling: expect.any(Array) });
    expect(readFileSync(files.markdown, 'utf8')).toContain('ratioToCeiling');
    expect(readFileSync(files.chart, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(existsSync(join(outDir, 'latest.json'))).toBe(true);
    expect(renderMarkdown(results)).toContain('| 2 |');
  });
});

// `npm run bench -- --baseline <ref>` in miniature: this checkout's apps against HEAD's, from
// source so that the baseline needs no build. Again only the shape of the figures is checked.
describe('npm run bench -- --baseline, in miniature', () => {
  const outDir = scratchOutDir('orders-bench-compare-');
  const baselineDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith('orders-baseline-'));
  let dirsBefore: string[];
  let results: CompareResults;

  beforeAll(async () => {
    dirsBefore = baselineDirs();
    results = await runComparison({ ...miniature(outDir), levels: [2], generatorRates: [10], baseline: 'HEAD' }, () => undefined);
  }, 240_000);

  test('each round measures both builds, the first one alternating, with their ratio', () => {
    expect(results.builds.baseline.ref).toBe('HEAD');
    const [level] = results.levels;
    expect(level!.connections).toBe(2);
    expect(level!.rounds.map((r) => r.first)).toEqual(['baseline', 'candidate']);
    for (const r of level!.rounds) {
      expect(r.baseline.rps).toBeGreaterThan(0);
      expect(r.candidate.rps).toBeGreaterThan(0);
      expect(r.ratio).toBeCloseTo(r.candidate.rps / r.baseline.rps, 2);
      expect(r.candidate.storeCpuMsPerOrder).toBeGreaterThan(0);
    }
    expect(level!.medianRatio).toBe(Math.min(...level!.rounds.map((r) => r.ratio)));
  });

  test('order-generator of each build runs at the same rate, and each app of each build has a peak RSS', () => {
    expect(results.generator.map((g) => g.ratePerSec)).toEqual([10]);
    expect(results.generator[0]!.rounds).toHaveLength(2);
    for (const build of ['baseline', 'candidate'] as const) {
      expect(results.peakRssMb[build]['order-store']).toBeGreaterThan(0);
      expect(results.peakRssMb[build]['order-generator']).toBeGreaterThan(0);
    }
  });

  test('compare.json and compare.md are written, and the baseline checkout is gone', () => {
    const files = writeComparison(results, outDir);
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ levels: expect.any(Array) });
    expect(readFileSync(files.markdown, 'utf8')).toContain('candidate ÷ baseline');
    expect(baselineDirs()).toEqual(dirsBefore);
  });
});

// `npm run bench -- --tracing` in miniature: tracing off against tracing on, this checkout's apps
// on sidecars of each configuration, spans to a real Jaeger. Only the shape is checked.
describe('npm run bench -- --tracing, in miniature', () => {
  const outDir = scratchOutDir('orders-bench-tracing-');
  let results: CompareResults;

  beforeAll(async () => {
    results = await runComparison({ ...miniature(outDir), levels: [2], generatorRates: [10], tracing: true }, () => undefined);
  }, 240_000);

  test('both sides of each round are measured, off against on', () => {
    expect(results.builds.baseline.ref).toBe('tracing off');
    expect(results.builds.candidate.ref).toMatch(/^tracing on, sampling rate /);
    const [level] = results.levels;
    expect(level!.rounds.map((r) => r.first)).toEqual(['baseline', 'candidate']);
    for (const r of level!.rounds) {
      expect(r.baseline.rps).toBeGreaterThan(0);
      expect(r.candidate.rps).toBeGreaterThan(0);
    }
    for (const side of ['baseline', 'candidate'] as const) expect(results.peakRssMb[side]['order-generator']).toBeGreaterThan(0);
    expect(results.checks.map((c) => c.target)).toContain('zero errors on the order path, candidate');
  });
});
