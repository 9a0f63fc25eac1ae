import { type LevelFigures, type TargetFigures, type TargetName, pairedMedianRound, summarise } from '../../bench/bench';
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
  statusCodes: { '201': Math.round(rps * 6) },
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
