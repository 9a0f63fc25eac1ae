import { LATENCY_BUCKETS, createRegistry, recentQuantiles } from '@orders/common';
import { ORDER_STORE_APP_ID } from '@orders/contract';
import { Counter, Histogram, type Registry } from 'prom-client';

export type StateOperation = 'insert' | 'group_commit' | 'get' | 'pointer_read' | 'pointer_write';

/** What order-store counts and times; served at GET /metrics on its HTTP port. */
export interface StoreMetrics {
  registry: Registry;
  /** An order answered: created (201), duplicate (200), conflict (409) or rejected (any other 4xx/5xx, by its error code). */
  answered(outcome: 'created' | 'duplicate' | 'conflict' | 'rejected', status: number, seconds: number, reason?: string): void;
  /** One call to the sidecar's state API. */
  stateCall(operation: StateOperation, seconds: number, ok: boolean): void;
  /** A group commit went out with this many orders. */
  batch(size: number): void;
  /** A pointer write landed after `races` refusals (another replica wrote first). */
  pointerWritten(races: number): void;
}

export function storeMetrics(): StoreMetrics {
  const registry = createRegistry(ORDER_STORE_APP_ID);
  const registers = [registry];
  const orders = new Counter({
    name: 'order_store_orders_total',
    help: 'POST /neworder answers by outcome: created, duplicate, conflict, rejected.',
    labelNames: ['outcome'],
    registers,
  });
  const rejected = new Counter({
    name: 'order_store_orders_rejected_total',
    help: 'Orders refused, by HTTP status and error code (the `error.code` of the answer).',
    labelNames: ['status', 'reason'],
    registers,
  });
  const requestSeconds = new Histogram({
    name: 'order_store_request_duration_seconds',
    help: 'POST /neworder from the request to the answer.',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const recentRequestSeconds = recentQuantiles(registry, 'order_store_request_latency_seconds', 'POST /neworder from the request to the answer.');
  const stateSeconds = new Histogram({
    name: 'order_store_state_call_duration_seconds',
    help: "Calls to the sidecar's state API, by operation and result.",
    labelNames: ['operation', 'result'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const batchSize = new Histogram({
    name: 'order_store_group_commit_batch_size',
    help: 'Orders written by one state request (a group commit of orders that arrived in the same turn).',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers,
  });
  const pointerWrites = new Counter({ name: 'order_store_pointer_writes_total', help: 'latest-order pointer writes that landed.', registers });
  const pointerRaces = new Counter({
    name: 'order_store_pointer_races_total',
    help: 'latest-order pointer writes refused because another replica wrote first (each is read again and retried).',
    registers,
  });
  // Zero series exist from the start, so a dashboard's rate() has a line before the first order.
  for (const outcome of ['created', 'duplicate', 'conflict', 'rejected']) orders.inc({ outcome }, 0);
  return {
    registry,
    answered(outcome, status, seconds, reason) {
      orders.inc({ outcome });
      if (outcome === 'rejected') rejected.inc({ status: String(status), reason: reason ?? 'unknown' });
      requestSeconds.observe({ outcome }, seconds);
      recentRequestSeconds.observe(seconds);
    },
    stateCall: (operation, seconds, ok) => stateSeconds.observe({ operation, result: ok ? 'ok' : 'error' }, seconds),
    batch: (size) => batchSize.observe(size),
    pointerWritten(races) {
      pointerWrites.inc();
      if (races > 0) pointerRaces.inc(races);
    },
  };
}
