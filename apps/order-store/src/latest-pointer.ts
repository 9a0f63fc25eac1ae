import type { StoredOrder } from './order';

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Writes the latest-order pointer for many orders at once. While one write is in flight, the
 * orders accepted meanwhile wait for the next write, which stores only the newest of them: under
 * load most orders cost one state write instead of two, and an order is acknowledged only once a
 * pointer at least as new as it is stored. A pointer older than one already written is never
 * written, so concurrent requests cannot move it back.
 */
export class LatestPointer {
  private pending: StoredOrder | undefined;
  private waiters: Waiter[] = [];
  private written: StoredOrder | undefined;
  private writing = false;

  constructor(private readonly write: (order: StoredOrder) => Promise<void>) {}

  /** Resolves once the pointer stored is this order or a newer one. */
  offer(order: StoredOrder): Promise<void> {
    if (this.written && order.acceptedAt < this.written.acceptedAt) return Promise.resolve();
    if (!this.pending || this.pending.acceptedAt <= order.acceptedAt) this.pending = order;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.writing) void this.flush();
    return done;
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.pending) {
      const order = this.pending;
      const waiters = this.waiters;
      this.pending = undefined;
      this.waiters = [];
      try {
        await this.write(order);
        if (!this.written || this.written.acceptedAt <= order.acceptedAt) this.written = order;
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of waiters) waiter.reject(error);
      }
    }
    this.writing = false;
  }
}
