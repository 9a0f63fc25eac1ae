import { type Span, context, trace } from '@opentelemetry/api';
import { DaprHttpError, type DaprSidecar, type StateItem, failSpan } from '@orders/common';
import type { StateOperation, StoreMetrics } from './metrics';
import type { StoredOrder } from './order';

/** The latest-order pointer as stored, with the ETag a write replacing it must name. */
export interface LatestEntry {
  order: StoredOrder;
  etag: string;
}

/** The order store's view of its state: one key per order, plus the latest-order pointer. */
export interface OrderState {
  /** Writes the order only if its key is absent; false when the store refused the write. */
  insert(order: StoredOrder): Promise<boolean>;
  get(orderId: string): Promise<StoredOrder | undefined>;
  getLatest(): Promise<LatestEntry | undefined>;
  /**
   * Points the pointer at `order` only if it is still the entry read with `etag` (absent when
   * `etag` is undefined); false when another write came first. Replicas share the pointer, so an
   * unconditional write could replace a newer order with an older one.
   */
  replaceLatest(order: StoredOrder, etag: string | undefined): Promise<boolean>;
  /** Resolves when the sidecar and the state store both answer. */
  ping(): Promise<void>;
}

/** The state store could not be reached or failed; the request may be retried. */
export class StateUnavailableError extends Error {
  constructor(operation: string, cause: unknown) {
    super(`state store ${operation} failed: ${describe(cause)}`, { cause });
    this.name = 'StateUnavailableError';
  }
}

// Each key stands alone (no multi-key transaction), so nothing here crosses Redis Cluster slots.
const orderKey = (orderId: string) => `order:${orderId}`;
const LATEST_KEY = 'latest-order';

// Redis versions start at 1, so this ETag never matches a stored key: the write succeeds only
// when the key is absent, and a present key is reported as an ETag mismatch (409), which daprd does
// not retry. An unreachable Redis is reported as a 409 too, so a refused insert is only called a
// duplicate after the order is read back (OrderBook.accept), and a refused pointer write is
// followed by a read of the pointer, which fails outright when Redis is down.
const NEVER_MATCHES = '-1';
// `eventual`, not `strong`: with `strong`, Dapr's Redis state store follows each write with
// `WAIT <replicas> 1000` whenever the primary reported replicas when the sidecar started
// (components-contrib v1.18.3, state/redis/redis.go, Init and Set). ElastiCache Serverless is
// replicated across Availability Zones and refuses WAIT (it is not among the commands
// https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SupportedCommands.html supports), so
// every strong write would answer 500 after storing the key. Nothing is lost by it: the
// conditional write is one Lua script on the key's primary, and reads go to the primary too (the
// component's cluster client reads no replica), so a write is seen by the next read; and WAIT
// would not have made a failover lossless (https://redis.io/docs/latest/commands/wait/).
const FIRST_WRITE: StateItem['options'] = { concurrency: 'first-write', consistency: 'eventual' };
const PING_TIMEOUT_MS = 2_000;

/** At most this many orders go to the sidecar in one state request. */
const MAX_BATCH = 64;

interface PendingInsert {
  order: StoredOrder;
  /** The order's insert span: the state call that writes it (alone or in a batch) is its child or its link. */
  span: Span;
  resolve: (inserted: boolean) => void;
  reject: (error: unknown) => void;
}

type StateMetrics = Pick<StoreMetrics, 'stateCall' | 'batch'>;
const NO_METRICS: StateMetrics = { stateCall: () => {}, batch: () => {} };

const tracer = trace.getTracer('order-store');

export class DaprOrderState implements OrderState {
  private pendingInserts: PendingInsert[] = [];

  constructor(
    private readonly sidecar: DaprSidecar,
    private readonly storeName: string,
    private readonly metrics: StateMetrics = NO_METRICS,
  ) {}

  /**
   * Inserts that arrive in the same turn of the event loop go to the sidecar as one state request
   * (a group commit): under load that is one request to the sidecar for several orders instead of
   * one each, and no order waits longer than the turn it arrived in. Under load order-store makes
   * fewer state requests than it takes orders, pointer writes included ("state requests per order"
   * in proving-ground/bench/results/pointer/compare.md).
   */
  insert(order: StoredOrder): Promise<boolean> {
    const span = tracer.startSpan('insert order', { attributes: { 'order.id': order.orderId } });
    return new Promise<boolean>((resolve, reject) => {
      this.pendingInserts.push({ order, span, resolve, reject });
      if (this.pendingInserts.length === 1) setImmediate(() => void this.flushInserts());
    }).then(
      (inserted) => {
        span.setAttribute('order.inserted', inserted);
        span.end();
        return inserted;
      },
      (error: unknown) => {
        failSpan(span, undefined, describe(error));
        span.end();
        throw error;
      },
    );
  }

  private async flushInserts(): Promise<void> {
    const batch = this.pendingInserts.splice(0, MAX_BATCH);
    if (this.pendingInserts.length > 0) setImmediate(() => void this.flushInserts());
    // An id twice in one batch would be written twice at once; alone, the second is refused and
    // read back as any duplicate is.
    const keys = new Set(batch.map(({ order }) => order.orderId));
    if (batch.length === 1 || keys.size < batch.length) {
      for (const { order, span, resolve, reject } of batch) inSpan(span, () => this.insertOne(order)).then(resolve, reject);
      return;
    }
    this.metrics.batch(batch.length);
    // One state request for orders of as many traces: its span starts a trace of its own and links
    // to each order's insert span, and each of those links back to it (OpenTelemetry's batch model).
    const commit = tracer.startSpan('group commit', {
      root: true,
      attributes: { 'orders.batch_size': batch.length },
      links: batch.map(({ span }) => ({ context: span.spanContext() })),
    });
    for (const { span } of batch) span.addLink({ context: commit.spanContext() }).setAttribute('orders.batch_size', batch.length);
    try {
      await inSpan(commit, () => this.timed('group_commit', () => this.sidecar.saveState(this.storeName, batch.map(({ order }) => insertItem(order)))));
      commit.end();
      for (const { resolve } of batch) resolve(true);
    } catch (error) {
      failSpan(commit, error instanceof DaprHttpError ? error.status : undefined, describe(error));
      commit.end();
      for (const { order, span, resolve, reject } of batch) inSpan(span, () => this.insertAfterFailedBatch(order)).then(resolve, reject);
    }
  }

  /**
   * Dapr writes the items of a batch one by one, so after a failed batch some may be stored and
   * others refused or not written. Each is read back first: inserting again what the batch stored
   * would be refused, and five refusals in a row open the resiliency policy's circuit breaker. A
   * stored one is reported as present; OrderBook.accept tells this batch's write from another's.
   */
  private async insertAfterFailedBatch(order: StoredOrder): Promise<boolean> {
    return (await this.get(order.orderId)) ? false : this.insertOne(order);
  }

  private insertOne(order: StoredOrder): Promise<boolean> {
    return this.writeIfUnchanged('insert', insertItem(order));
  }

  /** A conditional write: false when the ETag no longer matches (or, see NEVER_MATCHES, the store is down). */
  private async writeIfUnchanged(operation: StateOperation, item: StateItem): Promise<boolean> {
    try {
      await this.timed(operation, () => this.sidecar.saveState(this.storeName, [item]));
      return true;
    } catch (error) {
      if (error instanceof DaprHttpError && error.status === 409) return false;
      throw new StateUnavailableError('write', error);
    }
  }

  async get(orderId: string): Promise<StoredOrder | undefined> {
    return this.read(orderKey(orderId));
  }

  async getLatest(): Promise<LatestEntry | undefined> {
    try {
      const entry = await this.timed('pointer_read', () => this.sidecar.getStateEntry(this.storeName, LATEST_KEY));
      return entry && { order: entry.value as StoredOrder, etag: entry.etag };
    } catch (error) {
      throw new StateUnavailableError('read', error);
    }
  }

  async replaceLatest(order: StoredOrder, etag: string | undefined): Promise<boolean> {
    return this.writeIfUnchanged('pointer_write', { key: LATEST_KEY, value: order, etag: etag ?? NEVER_MATCHES, options: FIRST_WRITE });
  }

  async ping(): Promise<void> {
    // A readiness probe gives up after a second or two; so does this.
    await this.read(LATEST_KEY, PING_TIMEOUT_MS);
  }

  // Only order-store writes these keys, and only as StoredOrder.
  private async read(key: string, timeoutMs?: number): Promise<StoredOrder | undefined> {
    try {
      return (await this.timed('get', () => this.sidecar.getState(this.storeName, key, { timeoutMs }))) as StoredOrder | undefined;
    } catch (error) {
      throw new StateUnavailableError('read', error);
    }
  }

  /** Times one state call for the state-call latency histogram; a refused conditional write (409) counts as an answer. */
  private async timed<T>(operation: StateOperation, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let answered = false;
    try {
      const result = await call();
      answered = true;
      return result;
    } catch (error) {
      answered = error instanceof DaprHttpError && error.status === 409;
      throw error;
    } finally {
      this.metrics.stateCall(operation, (performance.now() - started) / 1000, answered);
    }
  }
}

/** Runs `work` with `span` active, so that the sidecar calls it makes carry it as their parent. */
function inSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  return context.with(trace.setSpan(context.active(), span), work);
}

/** The order under its own key, written only if the key is absent. */
function insertItem(order: StoredOrder): StateItem {
  return {
    key: orderKey(order.orderId),
    value: order,
    etag: NEVER_MATCHES,
    options: FIRST_WRITE,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
