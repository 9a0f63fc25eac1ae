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
 * The latest-order pointer, written behind the orders. An order is acknowledged once its own key
 * is stored; the pointer follows it: at once when the store is quiet, and under load once per
 * interval, with the newest order accepted meanwhile. Most orders thus cost one state write, and
 * none waits for a second one. A failed write is tried again until a newer order replaces it, and
 * the pointer never moves back to an order older than one already written.
 *
 * Readers see an order through the pointer within an interval of it being acknowledged, and at
 * once from this process (`newest`). A process killed outright can leave the pointer up to one
 * interval behind, on an order that is itself stored; the next order, or a resend, moves it on.
 */
export class LatestPointer {
  /** The newest order offered, written or not. */
  private newestOffered: StoredOrder | undefined;
  /** What the next write stores. */
  private pending: StoredOrder | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private lastStart = -Infinity;
  private failures = 0;

  constructor(
    private readonly write: (order: StoredOrder) => Promise<void>,
    private readonly options: LatestPointerOptions,
  ) {}

  /** The newest order this process accepted, whether or not the pointer has caught up with it. */
  newest(): StoredOrder | undefined {
    return this.newestOffered;
  }

  /** Schedules the pointer to move to this order, unless it is older than one already offered. */
  offer(order: StoredOrder): void {
    const newest = this.newestOffered;
    if (newest && (order.acceptedAt < newest.acceptedAt || (order.acceptedAt === newest.acceptedAt && order.orderId === newest.orderId))) {
      return;
    }
    this.newestOffered = order;
    this.pending = order;
    this.schedule();
  }

  /** Writes what is pending now, and resolves when the pointer holds the newest order offered. */
  async flush(): Promise<void> {
    while (this.writing || this.pending) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      const failure = await this.startWrite();
      if (failure) throw failure.error;
    }
  }

  private schedule(): void {
    if (this.timer || this.writing || !this.pending) return;
    const backoff = this.failures === 0 ? this.options.intervalMs : Math.min(this.options.maxRetryMs, this.options.intervalMs * 2 ** this.failures);
    const wait = Math.max(0, this.lastStart + backoff - Date.now());
    this.timer = setTimeout(() => void this.startWrite(), wait).unref();
  }

  /**
   * Writes the pending order, one write at a time, whoever asks (the timer or flush); never
   * rejects, and resolves with the failure when the write failed.
   */
  private startWrite(): Promise<{ error: unknown } | undefined> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const order = this.pending;
    if (this.writing || !order) return Promise.resolve(undefined);
    this.pending = undefined;
    this.lastStart = Date.now();
    const done = this.write(order)
      .then(
        () => {
          this.failures = 0;
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
        this.schedule();
      });
    this.writing = done.then(() => undefined);
    return done;
  }
}
