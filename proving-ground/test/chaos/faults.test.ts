import { topology } from '@orders/common';
import { runningProcesses, stopAll } from '../../../dev/src/processes';
import { type ChaosOptions, type ScenarioName, parseOptions } from '../../chaos/options';
import { type ScenarioResult, runScenario } from '../../chaos/scenarios';

// The short version of `npm run chaos`: the same scenarios and verdicts at a lower rate and with
// short windows, and four of the seven scenarios so that it stays near two minutes; CHAOS_SCENARIOS (and
// the other CHAOS_* variables) widen it, e.g. CHAOS_SCENARIOS=redis-kill,store-kill,store-daprd-kill,
// generator-daprd-kill,sentry-kill,store-slow. Timings are reported, never asserted: on a shared
// 2-core machine they say little.
const options: ChaosOptions = parseOptions([], {
  CHAOS_RATE: '20',
  CHAOS_WARMUP: '1',
  CHAOS_FAULT: '2',
  CHAOS_SLOW: '9',
  CHAOS_RECOVERY: '2',
  CHAOS_DRAIN: '40',
  CHAOS_SCENARIOS: 'redis-kill,store-kill,store-replica-kill,store-daprd-kill',
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith('CHAOS_'))),
});

describe('faults under steady load lose nothing acknowledged', () => {
  afterAll(async () => {
    // Each scenario stops its own system; anything left is a leak, stopped here and then reported.
    const leftover = runningProcesses().map((proc) => proc.name);
    await stopAll(5_000);
    expect(leftover).toEqual([]);
    expect(runningProcesses()).toEqual([]);
  });

  test.each(options.scenarios.map((name): [ScenarioName] => [name]))(
    '%s: every acknowledged order is stored and readable, every generated one stored once after the drain',
    async (name) => {
      const result: ScenarioResult = await runScenario(name, options);
      const summary = JSON.stringify({ ...result, evidence: undefined });
      expect(result.generated).toBeGreaterThan(0);
      expect(result.acknowledged).toBeGreaterThan(0);
      // Nothing acknowledged is lost: each is in Redis and GET /orders/:id returns it.
      expect({ lostIds: result.evidence.lostIds, summary }).toEqual({ lostIds: [], summary });
      // At-least-once: every generated order is stored once the fault is over and the generator drained.
      expect({ notStoredIds: result.evidence.notStoredIds, summary }).toEqual({ notStoredIds: [], summary });
      expect(result.unconfirmedAtShutdown).toBe(0);
      // No duplicates visible as different orders, no conflicts, nothing stored that was not generated.
      expect(result.evidence.duplicateIds).toEqual([]);
      // The latest order never went back, in Redis or through any replica's GET /order.
      expect(result.latestReads).toBeGreaterThan(0);
      expect(result.evidence.latestWentBack).toEqual([]);
      expect(result.rejected).toBe(0);
      expect(result.stored).toBe(result.generated);
      expect(result.generatorCounted).toBe(result.generated);
      expect(result.generatorExitCode).toBe(0);
      expect(result.evidence.problems).toEqual([]);
      // With Redis down, the state store's breaker in order-store's sidecar opens: the store is
      // spared the calls. No breaker covers order-store as an app (deploy/resiliency.yaml says why).
      const stateStoreBreaker = new RegExp(`^${topology.orderStore.appId} statestore_${topology.stateStore}$`, 'i');
      if (name === 'redis-kill') expect(result.breakersOpened).toContainEqual(expect.stringMatching(stateStoreBreaker));
      expect(result.breakersOpened.filter((breaker) => breaker.includes('app_'))).toEqual([]);
    },
    options.warmupSec * 1000 + Math.max(options.faultSec, options.slowSec) * 1000 + options.recoverySec * 1000 + options.drainSec * 1000 + 90_000,
  );
});
