import { type Context, context } from '@opentelemetry/api';
import { isNewer } from './acceptance-clock';
import type { StoredOrder } from './order';

export interface LatestPointerOptions {
  /** Under load, at most one pointer write starts per interval; the newest order offered wins. */
  intervalMs: number;
  /** After a failed write, the next try waits this long at most (doubling from intervalMs). */
  maxRetryMs: number;
  onWriteError: (error: unknown, order: StoredOrder) => void;
}

export const defaultPointerOptions: Omit<LatestPointerOptions, 'onWriteError'> = { intervalMs: 50, maxRetryMs: 5_000 };

/**
 * Moves the shared pointer to `order` unless it already holds a newer one, and resolves with what
 * it holds afterwards: `order`, or the newer order another replica wrote.
 */
export type AdvancePointer = (order: StoredOrder) => Promise<StoredOrder>;

/**
 * This replica's side of the latest-order pointer. The pointer follows the orders: at once when
 * the store is quiet, and under load once per interval, with the newest order accepted meanwhile.
 * An order that comes when the store is quiet waits for its pointer write before it is
 * acknowledged, so that every replica shows it at once; under load none waits, and most orders
 * cost one state write: the compare-and-set pointer costs no throughput against a last-write one
 * (proving-ground/bench/results/pointer/compare.md). A failed write is tried again until a newer
 * order replaces it.
 *
 * Under load, readers on other replicas see an order through the pointer within an interval of
 * it being acknowledged. A process killed outright can leave the pointer up to one interval
 * behind, on an order that is itself stored; the next order, or a resend, moves it on.
 */
export class LatestPointer {
  /** The newest order offered, written or not. */
  private newestOffered: StoredOrder | undefined;
  /** The pointer is known to hold this order or a newer one. */
  private reached: StoredOrder | undefined;
  /** What the next write stores. */
  private pending: StoredOrder | undefined;
  /** The trace of the order offered last: the write that carries it is a span of that order's trace. */
  private pendingTrace: Context = context.active();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private lastStart = -Infinity;
  private failures = 0;
  /** Settles when the write the timer is about to start at once has landed or failed. */
  private immediateWrite: { done: Promise<void>; settle: () => void } | undefined;

  constructor(
    private readonly advance: AdvancePointer,
    private readonly options: LatestPointerOptions,
  ) {}

  /**
   * Schedules the pointer to move to this order, unless one as new was offered already. Resolves
   * when that write has landed (or failed) if it starts at once, the store being quiet; else at
   * once. Never rejects: the order is stored either way.
   */
  offer(order: StoredOrder): Promise<void> {
    if (this.newestOffered && !isNewer(order, this.newestOffered)) return Promise.resolve();
    this.newestOffered = order;
    this.pending = order;
    this.pendingTrace = context.active();
    this.schedule();
    return this.immediateWrite?.done ?? Promise.resolve();
  }

  /**
   * Resolves once the pointer holds every order offered before the call (or a newer one), writing
   * at once what is pending rather than at the next interval. Orders offered meanwhile are not
   * waited for, so a caller under load waits for one write at most, or two when one is in flight.
   */
  async flush(): Promise<void> {
    const target = this.newestOffered;
    while (target && !this.hasReached(target)) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      const outcome = await this.startWrite();
      if (outcome === 'idle') return;
      if (outcome) throw outcome.error;
    }
  }

  private hasReached(order: StoredOrder): boolean {
    return this.reached !== undefined && !isNewer(order, this.reached);
  }

  private schedule(): void {
    if (this.timer || this.writing || !this.pending) return;
    const backoff = this.failures === 0 ? this.options.intervalMs : Math.min(this.options.maxRetryMs, this.options.intervalMs * 2 ** this.failures);
    const wait = Math.max(0, this.lastStart + backoff - Date.now());
    if (wait === 0 && this.failures === 0) {
      let settle!: () => void;
      const done = new Promise<void>((resolve) => (settle = resolve));
      this.immediateWrite = { done, settle };
    }
    this.timer = setTimeout(() => void this.startWrite(), wait).unref();
  }

  /**
   * Writes the pending order, one write at a time, whoever asks (the timer or flush); never
   * rejects: resolves with the failure when the write failed, and with 'idle' when there was
   * nothing to write.
   */
  private startWrite(): Promise<{ error: unknown } | 'idle' | undefined> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const order = this.pending;
    if (this.writing || !order) return Promise.resolve('idle');
    const waiting = this.immediateWrite;
    this.immediateWrite = undefined;
    this.pending = undefined;
    this.lastStart = Date.now();
    const done = context
      .with(this.pendingTrace, () => this.advance(order))
      .then(
        (held) => {
          this.failures = 0;
          if (!this.reached || isNewer(held, this.reached)) this.reached = held;
          // Another replica's newer order is in the pointer: ours need not be written.
          if (this.pending && this.hasReached(this.pending)) this.pending = undefined;
          return undefined;
        },
        (error: unknown) => {
          this.failures += 1;
          // Try again with this order unless a newer one came meanwhile.
          this.pending ??= order;
          this.options.onWriteError(error, order);
          return { error };
        },
      )
      .finally(() => {
        this.writing = undefined;
        waiting?.settle();
        this.schedule();
      });
    this.writing = done.then(() => undefined);
    return done;
  }
}
