import Redis from 'ioredis';
import { waitFor } from '../../dev/src/processes';
import { longestGap } from '../harness/ack-gap';
import type { Sidecar } from '../harness/daprd';
import type { LogCapture, LogLine } from '../harness/log-capture';
import type { ChaosOptions, ScenarioName } from './options';
import { type Latest, LatestWatch, latestThroughStores } from '../harness/latest-watch';
import { ChaosSystem } from './chaos-system';

/** One fault: how it starts, how long it lasts and how it ends. */
interface Fault {
  /** What was done, for the report's "fault" column. */
  describe(options: ChaosOptions): string;
  slowable?: boolean;
  /** order-store replicas the scenario runs; 1 unless told. */
  storeReplicas?: number;
  windowSec(options: ChaosOptions): number;
  inject(system: ChaosSystem, options: ChaosOptions): Promise<void>;
  /** Resolves once the faulted part answers again: the start of the recovery time. */
  restore(system: ChaosSystem): Promise<void>;
}

const faults: Record<ScenarioName, Fault> = {
  'redis-kill': {
    describe: (o) => `Redis SIGKILL, down ${o.faultSec}s, restarted on the same port and AOF (appendfsync always)`,
    windowSec: (o) => o.faultSec,
    inject: (s) => s.killRedis(),
    restore: (s) => s.restartRedis(),
  },
  'store-kill': {
    describe: (o) => `order-store SIGKILL, down ${o.faultSec}s, restarted on the same port`,
    windowSec: (o) => o.faultSec,
    inject: (s) => s.killStore(),
    restore: (s) => s.restartStore(),
  },
  'store-replica-kill': {
    describe: (o) => `one of 2 order-store replicas SIGKILL, down ${o.faultSec}s, restarted on the same port`,
    storeReplicas: 2,
    windowSec: (o) => o.faultSec,
    inject: (s) => s.killStore(0),
    restore: (s) => s.restartStore(0),
  },
  'store-daprd-kill': {
    describe: (o) => `order-store's daprd SIGKILL, down ${o.faultSec}s, restarted on the same ports`,
    windowSec: (o) => o.faultSec,
    inject: (s) => s.killSidecar('store'),
    restore: (s) => s.restartSidecar('store'),
  },
  'generator-daprd-kill': {
    describe: (o) => `order-generator's daprd SIGKILL, down ${o.faultSec}s, restarted on the same ports`,
    windowSec: (o) => o.faultSec,
    inject: (s) => s.killSidecar('generator'),
    restore: (s) => s.restartSidecar('generator'),
  },
  'sentry-kill': {
    describe: (o) => `Sentry SIGKILL, down ${o.faultSec}s, restarted on the same port and CA`,
    windowSec: (o) => o.faultSec,
    inject: (s) => s.killSentry(),
    restore: (s) => s.restartSentry(),
  },
  'store-slow': {
    describe: (o) => `order-store answers ${o.slowDelayMs / 1000}s late for ${o.slowSec}s (invoke timeout 8s)`,
    slowable: true,
    windowSec: (o) => o.slowSec,
    inject: async (s, o) => s.proxy!.setDelay(o.slowDelayMs),
    restore: async (s) => s.proxy!.setDelay(0),
  },
};

export function describeFault(name: ScenarioName, options: ChaosOptions): string {
  return faults[name].describe(options);
}

export interface ScenarioResult {
  scenario: ScenarioName;
  fault: string;
  ordersPerSecond: number;
  /** Distinct order ids in the generator's log. */
  generated: number;
  /** The generator's own count, from its last line; equal to generated unless a line was lost. */
  generatorCounted: number | null;
  /** Distinct ids the generator logged as "order accepted". */
  acknowledged: number;
  /** Keys `order-store||order:<id>` in Redis once the generator has drained. */
  stored: number;
  /** Acknowledged and not stored, or not readable through GET /orders/:id. */
  lost: number;
  /** Orders stored or acknowledged more than once, stored under an id never generated, or refused as a conflict (409). */
  duplicates: number;
  /** Generated and not stored once the generator drained: at-least-once not met (0 expected). */
  generatedNotStored: number;
  /** From the faulted part answering again to the first order accepted after it; null if none was. */
  recoveryMs: number | null;
  /** Longest time between two acknowledgements, from the first to the last. */
  longestAckGapMs: number;
  /** Failed attempts the generator retried. */
  retries: number;
  /** Resends order-store answered 200 because the order was stored already: at-least-once at work. */
  dedupedResends: number;
  /** Orders the store refused for good (4xx); 0 expected. */
  rejected: number;
  /** Times a reader of the latest order (the pointer in Redis, or GET /order round the replicas) saw it go back; 0 expected. */
  latestWentBack: number;
  /** Reads of the latest order the two readers made. */
  latestReads: number;
  /** Orders still unconfirmed when the generator's shutdown grace ran out; 0 expected. */
  unconfirmedAtShutdown: number;
  /**
   * Circuit breakers that opened, as `<app id> <target>` (e.g. `order-store Statestore_statestore`: a component's target is its type and name),
   * from each sidecar's dapr_resiliency_activations_total once the generator drained; a sidecar
   * the fault restarted counts from its restart.
   */
  breakersOpened: string[];
  generatorExitCode: number | null;
  /** Seconds from the first order: the fault's start, the restart's return, the stop signal, the generator's exit. */
  timeline: { faultStartSec: number; restoredSec: number; stopSec: number; drainedSec: number };
  /** The ids behind any non-zero lost, duplicates or generatedNotStored, and anything else amiss. */
  evidence: { lostIds: string[]; duplicateIds: string[]; notStoredIds: string[]; latestWentBack: string[]; problems: string[] };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
const ORDER_PREFIX = 'order-store||order:';
const POINTER_KEY = 'order-store||latest-order';

/**
 * One scenario on a system of its own: steady load, warm-up, the fault, the restart, a recovery
 * window, then SIGTERM to the generator, which delivers its backlog and exits; then the verdicts,
 * from the generator's log, order-store's log, Redis and order-store's read API.
 */
export async function runScenario(name: ScenarioName, options: ChaosOptions, logsDir?: string): Promise<ScenarioResult> {
  const fault = faults[name];
  const system = await ChaosSystem.start({
    build: options.build,
    slowable: fault.slowable ?? false,
    storeReplicas: fault.storeReplicas ?? 1,
    logPrefix: name,
    ...(logsDir ? { logsDir } : {}),
  });
  const problems: string[] = [];
  // Two readers of the latest order for the whole scenario: the shared pointer in Redis, and GET
  // /order going round the replicas.
  const pointerClient = new Redis(system.redis.port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  // Redis being down is the redis-kill scenario itself: a failed read is a skipped sample, and
  // ioredis would print every reconnect error as unhandled.
  pointerClient.on('error', () => {});
  const watch = new LatestWatch({
    'the pointer in Redis': async () => parseOrder((await pointerClient.hget(POINTER_KEY, 'data')) ?? ''),
    'GET /order': latestThroughStores(() => system.stores.map((replica) => replica.app.url)),
  });
  try {
    const log = system.capture('order-generator');
    const generator = await system.startGenerator(
      { ORDERS_PER_SECOND: String(options.rate), SHUTDOWN_GRACE_MS: String(Math.round(options.drainSec * 1000)) },
      log,
    );
    await waitFor('the first accepted order', () => log.withMsg('order accepted').length > 0, 60_000, generator.proc);
    const loadStart = log.withMsg('order accepted')[0]!.time;
    await sleep(options.warmupSec * 1000);

    const faultStart = Date.now();
    await fault.inject(system, options);
    await sleep(faultStart + fault.windowSec(options) * 1000 - Date.now());
    await fault.restore(system);
    const restored = Date.now();

    await sleep(options.recoverySec * 1000);
    const stopAt = Date.now();
    const exitCode = await generator.proc.stop(options.drainSec * 1000 + 15_000);
    const drained = Date.now();
    await watch.stop();
    if (exitCode !== 0) problems.push(`order-generator exited with ${exitCode}:\n${generator.proc.output()}`);
    const replicas = system.stores.flatMap((replica) => [replica.app, replica.sidecar]);
    for (const part of [...replicas, system.generatorSidecar, system.sentry, system.redis]) {
      if (!part.proc.isRunning()) problems.push(`${part.proc.name} is not running after the scenario:\n${part.proc.output()}`);
    }

    const breakersOpened = await openedBreakers([...system.stores.map((replica) => replica.sidecar), system.generatorSidecar]);
    const verdict = await verify(system, log);
    problems.push(...verdict.problems);
    const counted = generatorCount(log);
    if (counted !== verdict.generated.size) problems.push(`the generator counted ${counted} orders, its log names ${verdict.generated.size}`);
    const accepted = log.withMsg('order accepted');
    const recovery = accepted.find((line) => line.time >= restored);
    const sec = (t: number) => Math.round((t - loadStart) / 100) / 10;
    return {
      scenario: name,
      fault: fault.describe(options),
      ordersPerSecond: options.rate,
      generated: verdict.generated.size,
      generatorCounted: counted,
      acknowledged: verdict.acknowledged.size,
      stored: verdict.stored.size,
      lost: verdict.lostIds.length,
      duplicates: verdict.duplicateIds.length,
      generatedNotStored: verdict.notStoredIds.length,
      recoveryMs: recovery ? recovery.time - restored : null,
      longestAckGapMs: longestGap(accepted.map((line) => ({ at: line.time }))),
      retries: log.withMsg('order not confirmed; will retry').length,
      dedupedResends: system.storeLines('order duplicate').length,
      latestWentBack: watch.wentBack.length,
      latestReads: watch.totalReads,
      rejected: log.withMsg('order rejected; dropped').length,
      unconfirmedAtShutdown: log.withMsg('order not confirmed before shutdown').length,
      breakersOpened,
      generatorExitCode: exitCode,
      timeline: { faultStartSec: sec(faultStart), restoredSec: sec(restored), stopSec: sec(stopAt), drainedSec: sec(drained) },
      evidence: {
        lostIds: verdict.lostIds,
        duplicateIds: verdict.duplicateIds,
        notStoredIds: verdict.notStoredIds,
        latestWentBack: watch.wentBack.slice(0, 20),
        problems,
      },
    };
  } finally {
    await watch.stop();
    pointerClient.disconnect();
    await system.stop();
  }
}

/** `<app id> <target>` of every circuit breaker these sidecars counted opening (Dapr's resiliency metrics). */
async function openedBreakers(sidecars: Sidecar[]): Promise<string[]> {
  const opened = new Set<string>();
  for (const sidecar of sidecars) {
    // A sidecar that is not running is reported among the scenario's problems already.
    const metrics = await fetch(`http://127.0.0.1:${sidecar.metricsPort}/metrics`).then((res) => res.text(), () => '');
    for (const [, labels] of metrics.matchAll(/^dapr_resiliency_activations_total\{([^}]*)\}\s+[1-9]/gm)) {
      const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels ?? '')?.[1];
      if (label('policy') === 'circuitbreaker' && label('status') === 'open') opened.add(`${label('app_id')} ${label('target')}`);
    }
  }
  return [...opened].sort();
}

interface Verdict {
  generated: Set<string>;
  acknowledged: Set<string>;
  stored: Set<string>;
  lostIds: string[];
  duplicateIds: string[];
  notStoredIds: string[];
  problems: string[];
}

async function verify(system: ChaosSystem, log: LogCapture): Promise<Verdict> {
  const problems: string[] = [];
  const generated = new Set(log.lines.flatMap((line) => (line.orderId ? [line.orderId] : [])));
  const acceptedLines = log.withMsg('order accepted');
  const acknowledged = new Set(acceptedLines.map((line) => line.orderId!));
  const duplicateIds = new Set<string>();
  // The pipeline confirms an order once; a second acceptance would be a second order to its users.
  if (acknowledged.size !== acceptedLines.length) {
    const seen = new Set<string>();
    for (const { orderId } of acceptedLines) {
      if (seen.has(orderId!)) duplicateIds.add(orderId!);
      seen.add(orderId!);
    }
  }
  for (const line of log.withMsg('order rejected; dropped')) {
    if (line.status === 409) duplicateIds.add(line.orderId ?? '(no id)');
    problems.push(`order ${line.orderId} rejected: ${JSON.stringify(line.raw)}`);
  }

  const redis = new Redis(system.redis.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  const stored = new Set<string>();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${ORDER_PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.hget(key, 'data');
    const values = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const id = key.slice(ORDER_PREFIX.length);
      const [error, data] = values[i] ?? [new Error('no answer'), null];
      const order = !error && typeof data === 'string' ? parseOrder(data) : undefined;
      if (!order || order.orderId !== id) {
        problems.push(`${key} holds ${error ? String(error) : String(data)}, not order ${id}`);
        duplicateIds.add(id);
        return;
      }
      stored.add(id);
      if (!generated.has(id)) duplicateIds.add(id);
    });
  } finally {
    redis.disconnect();
  }

  // Readable through the store too, not only in Redis: through every replica.
  const unreadable = await unreadableThroughStore(system.stores.map((replica) => replica.app.url), [...acknowledged]);
  const lostIds = [...acknowledged].filter((id) => !stored.has(id) || unreadable.has(id));
  for (const id of unreadable) if (stored.has(id)) problems.push(`order ${id} is in Redis but GET /orders/${id} does not return it`);
  const notStoredIds = [...generated].filter((id) => !stored.has(id));
  return { generated, acknowledged, stored, lostIds, duplicateIds: [...duplicateIds], notStoredIds, problems };
}

function parseOrder(data: string): Latest | undefined {
  try {
    const value: unknown = JSON.parse(data);
    return typeof value === 'object' && value !== null && 'orderId' in value && typeof value.orderId === 'string' && 'acceptedAt' in value && typeof value.acceptedAt === 'string'
      ? { orderId: value.orderId, acceptedAt: value.acceptedAt }
      : undefined;
  } catch {
    return undefined;
  }
}

async function unreadableThroughStore(storeUrls: string[], ids: string[]): Promise<Set<string>> {
  const unreadable = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const storeUrl = storeUrls[next % storeUrls.length]!;
      const id = ids[next++]!;
      try {
        const res = await fetch(`${storeUrl}/orders/${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(10_000) });
        const body = (await res.json()) as { orderId?: unknown };
        if (res.status !== 200 || body.orderId !== id) unreadable.add(id);
      } catch {
        unreadable.add(id);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return unreadable;
}

function generatorCount(log: LogCapture): number | null {
  const last: LogLine | undefined = log.withMsg('order-generator stopped').at(-1);
  return typeof last?.raw.generated === 'number' ? last.raw.generated : null;
}
