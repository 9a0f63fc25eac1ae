import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LevelFigures, type TargetFigures, type TargetName, pairedMedianRound, summarise } from '../../bench/bench';
import { linkNodeModules, sameInstalledPackages } from '../../bench/checkout';
import { type ComparedLevel, type PathFigures, median, orderOfRound, stateRequestsPerOrder, summariseComparison } from '../../bench/compare';
import type { GeneratorFigures } from '../../bench/generator';
import { defaultOptions } from '../../bench/options';
import { cpuAttribution } from '../../bench/report';

const level = (connections: number, rps: number, cpuMsPerRequest: Record<string, number> = {}): LevelFigures => ({
  connections,
  durationSec: 6,
  requests: Math.round(rps * 6),
  rps,
  p50Ms: 1,
  p90Ms: 2,
  p99Ms: 3,
  maxMs: 4,
  errors: 0,
  statusCodes: { 201: Math.round(rps * 6) },
  roundsRps: [rps],
  processes: [],
  cpuMsPerRequest,
  contextSwitchesPerRequest: {},
  daprLatencies: {},
});

/** One target's rounds, from its req/s at 4 and at 16 connections in each round. */
const rounds = (name: TargetName, rps: Array<[number, number]>): TargetFigures[] =>
  rps.map(([at4, at16]) => ({ name, description: name, levels: [level(4, at4), level(16, at16)] }));

// Round 1 (the second) is one the machine disturbed for the order path alone. Taking each target's
// own median would pair round 0's path with round 2's state ceiling.
const measured = {
  orderPath: rounds('orderPath', [[600, 900], [480, 700], [610, 1000]]),
  invokeCeiling: rounds('invokeCeiling', [[900, 1200], [970, 1400], [830, 1150]]),
  stateCeiling: rounds('stateCeiling', [[4100, 4300], [6200, 5700], [5400, 5800]]),
};

const generator: GeneratorFigures = {
  steps: [],
  steadyRatePerSec: 0,
  acceptedAtSteadyPerSec: 0,
  memory: { ratePerSec: 0, acceptedPerSec: 0, durationSec: 0, retries: 0, rejected: 0, samples: [], baselineRssMb: 1, endRssMb: 1, peakRssMb: 1, growthPct: 0 },
};

describe('pairedMedianRound', () => {
  const paired = pairedMedianRound(measured);

  test('takes each level from the round whose own ratioToCeiling is the median, for all three targets', () => {
    // At 4 connections the rounds' ratios are 0.813, 0.572 and 0.848: round 0 is the median.
    expect(paired.orderPath.levels[0]!.rps).toBe(600);
    expect(paired.invokeCeiling.levels[0]!.rps).toBe(900);
    expect(paired.stateCeiling.levels[0]!.rps).toBe(4100);
    // At 16 they are 0.959, 0.623 and 1.042: round 0 again, though 5700 is the state ceiling's own median.
    expect(paired.stateCeiling.levels[1]!.rps).toBe(4300);
  });

  test("keeps every round's throughput, in the order measured", () => {
    expect(paired.orderPath.levels[0]!.roundsRps).toEqual([600, 480, 610]);
    expect(paired.stateCeiling.levels[1]!.roundsRps).toEqual([4300, 5700, 5800]);
  });

  test("summarise reports the median round's ratio and every round's", () => {
    const results = summarise(defaultOptions, {}, paired, [], generator);
    expect(results.ratioToCeiling).toEqual([
      { connections: 4, ratio: 0.813, roundRatios: [0.813, 0.572, 0.848] },
      { connections: 16, ratio: 0.959, roundRatios: [0.959, 0.623, 1.042] },
    ]);
    expect(results.checks[0]).toMatchObject({ pass: true, detail: 'c=4: 0.813, c=16: 0.959' });
  });

  test('refuses targets measured a different number of times', () => {
    expect(() => pairedMedianRound({ ...measured, stateCeiling: measured.stateCeiling.slice(1) })).toThrow(/same rounds/);
  });
});

describe('cpuAttribution', () => {
  test("splits the order path's CPU beyond the ceilings between order-store, the sidecars with Redis, and the load generator", () => {
    const target = (name: TargetName, cpu: Record<string, number>): TargetFigures => ({ name, description: name, levels: [level(4, 600, cpu)] });
    const results = summarise(
      defaultOptions,
      {},
      {
        orderPath: target('orderPath', { 'order-store': 0.481, 'daprd:order-store': 1.061, 'daprd:order-generator': 0.986, redis: 0.106, 'load generator': 0.231 }),
        invokeCeiling: target('invokeCeiling', { 'noop-app': 0.181, 'daprd:order-store': 0.686, 'daprd:order-generator': 0.871, redis: 0.004, 'load generator': 0.196 }),
        stateCeiling: target('stateCeiling', { 'daprd:order-store': 0.197, redis: 0.053, 'load generator': 0.071 }),
      },
      [],
      generator,
    );
    const [attribution] = cpuAttribution(results);
    expect(attribution).toEqual({ connections: 4, orderPath: 2.865, ceilings: 2.259, orderStoreAdds: 0.3, daprAndRedisAdd: 0.342, loadGeneratorAdds: -0.036 });
    // The three parts account for the whole difference.
    expect(attribution!.orderStoreAdds + attribution!.daprAndRedisAdd + attribution!.loadGeneratorAdds).toBeCloseTo(attribution!.orderPath - attribution!.ceilings, 6);
  });
});

describe('the paired comparison of two builds', () => {
  const path = (rps: number): PathFigures => ({
    rps,
    p50Ms: 1,
    p99Ms: 2,
    errors: 0,
    storeCpuMsPerOrder: 0.5,
    pathCpuMsPerOrder: 3,
    cpuMsPerOrder: { 'order-store': 0.5 },
    stateRequestsPerOrder: 0.8,
    storePeakRssMb: 90,
  });

  test('alternates the build measured first, round by round', () => {
    expect([1, 2, 3, 4].map((r) => orderOfRound(r)[0])).toEqual(['baseline', 'candidate', 'baseline', 'candidate']);
  });

  test("counts order-store's state requests per order from its sidecar's own counts", () => {
    const latencies = [
      { metric: 'dapr_http_server_latency{method="POST",path="/v1.0/state/statestore",status="204"}', count: 300, meanMs: 1 },
      { metric: 'dapr_http_server_latency{method="POST",path="/v1.0/state/statestore",status="409"}', count: 20, meanMs: 1 },
      { metric: 'dapr_http_server_latency{method="GET",path="/v1.0/state/statestore/latest-order",status="200"}', count: 5, meanMs: 1 },
      { metric: 'dapr_http_client_roundtrip_latency{method="POST",path="/neworder",status="201"}', count: 400, meanMs: 2 },
    ];
    expect(stateRequestsPerOrder(latencies)).toBe(0.8);
    expect(stateRequestsPerOrder([])).toBe(0);
  });

  test('takes the median of the rounds, the lower middle one for an even count', () => {
    expect(median([1.02, 0.91, 0.97])).toBe(0.97);
    expect(median([1.02, 0.91, 0.97, 0.95])).toBe(0.95);
  });

  test('checks the candidate against the throughput floor, p99, errors and the RSS budget', () => {
    const levels: ComparedLevel[] = [
      { connections: 4, rounds: [{ first: 'baseline', baseline: path(500), candidate: path(470), ratio: 0.94 }], medianRatio: 0.94 },
      { connections: 16, rounds: [{ first: 'baseline', baseline: path(800), candidate: { ...path(700), errors: 2, p99Ms: 3 }, ratio: 0.875 }], medianRatio: 0.875 },
    ];
    const results = summariseComparison({ ...defaultOptions, baseline: 'main' }, {}, { baseline: { ref: 'main', commit: 'abc' }, candidate: { ref: 'this checkout', commit: 'def' } }, levels, []);
    expect(results.checks.map((c) => [c.pass, c.detail])).toEqual([
      [false, 'c=4: 0.94, c=16: 0.875'],
      [false, 'c=4: 2 → 2 ms, c=16: 2 → 3 ms'],
      [true, 'none in any round'],
      [false, 'c=16: 2'],
      [true, '90 MB (baseline 90 MB)'],
      // No generator figures: a peak of 0 is no measurement, not a pass.
      [false, '0 MB (baseline 0 MB)'],
    ]);
  });
});

describe('checking out a baseline', () => {
  const lock = (packages: Record<string, object>) => JSON.stringify({ lockfileVersion: 3, packages });

  test('shares node_modules when both lockfiles install the same packages, whoever declares them', () => {
    const installed = { 'node_modules/pino': { version: '10.4.0', integrity: 'sha512-a' }, 'node_modules/@orders/common': { resolved: 'packages/common', link: true } };
    const asDev = { ...installed, 'node_modules/pino': { version: '10.4.0', integrity: 'sha512-a', dev: true }, '': { devDependencies: { pino: '^10' } } };
    expect(sameInstalledPackages(lock(installed), lock(asDev))).toBe(true);
    expect(sameInstalledPackages(lock(installed), lock({ ...installed, 'node_modules/pino': { version: '10.5.0', integrity: 'sha512-b' } }))).toBe(false);
    expect(sameInstalledPackages(lock(installed), lock({ ...installed, 'node_modules/zod': { version: '4.6.7' } }))).toBe(false);
  });

  test("links each installed package, but makes the workspaces' links again inside the checkout", () => {
    const from = mkdtempSync(join(tmpdir(), 'orders-link-from-'));
    const to = mkdtempSync(join(tmpdir(), 'orders-link-to-'));
    try {
      mkdirSync(join(from, 'node_modules/@orders'), { recursive: true });
      mkdirSync(join(from, 'node_modules/@types/node'), { recursive: true });
      mkdirSync(join(from, 'node_modules/pino'), { recursive: true });
      mkdirSync(join(from, 'packages/common'), { recursive: true });
      symlinkSync('../../packages/common', join(from, 'node_modules/@orders/common'));
      mkdirSync(join(to, 'packages/common'), { recursive: true });
      linkNodeModules(from, to);
      expect(realpathSync(join(to, 'node_modules/@orders/common'))).toBe(realpathSync(join(to, 'packages/common')));
      expect(realpathSync(join(to, 'node_modules/pino'))).toBe(realpathSync(join(from, 'node_modules/pino')));
      expect(realpathSync(join(to, 'node_modules/@types'))).toBe(realpathSync(join(from, 'node_modules/@types')));
    } finally {
      rmSync(from, { recursive: true, force: true });
      rmSync(to, { recursive: true, force: true });
    }
  });
});
