import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchResults, runBench } from '../../bench/bench';
import { defaultOptions } from '../../bench/options';
import { renderMarkdown, writeResults } from '../../bench/report';
import { runningProcesses, stopAll } from '../../harness/processes';

// Keeps `npm run bench` working: every part of it runs for a second or two, and only the shape of
// what it reports is checked. Timings are never asserted; this machine is shared.
describe('npm run bench, in miniature', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'orders-bench-smoke-'));
  let results: BenchResults;

  beforeAll(async () => {
    results = await runBench(
      {
        ...defaultOptions,
        levels: [1, 2],
        durationSec: 1,
        rounds: 2,
        warmupSec: 0,
        build: 'source',
        compile: false,
        outDir,
        generatorStepSec: 1,
        generatorRates: [5, 10],
        generatorMemorySec: 3,
        redisRequests: 2_000,
      },
      () => undefined,
    );
  }, 240_000);

  afterAll(async () => {
    await stopAll(3_000);
    expect(runningProcesses()).toEqual([]);
    rmSync(outDir, { recursive: true, force: true });
  });

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
