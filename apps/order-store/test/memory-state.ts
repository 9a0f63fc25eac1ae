import type { StoredOrder } from '../src/order';
import { type LatestEntry, type OrderState, StateUnavailableError } from '../src/state';

/**
 * The OrderState contract in memory, for unit tests of the logic above it: insert-only writes, a
 * pointer versioned as Redis versions it (an ETag that changes on every write), plus switches to
 * make the store fail. The Dapr implementation is tested on real sidecars.
 */
export class MemoryOrderState implements OrderState {
  readonly orders = new Map<string, StoredOrder>();
  latest: StoredOrder | undefined;
  /** Bumped by every write of the pointer, including one a test makes by setting `latest`. */
  private latestVersion = 0;
  private versionOf: StoredOrder | undefined;
  writes = 0;
  failing = false;
  failLatestWrites = false;

  async insert(order: StoredOrder): Promise<boolean> {
    this.check();
    if (this.orders.has(order.orderId)) return false;
    this.writes += 1;
    this.orders.set(order.orderId, order);
    return true;
  }

  async get(orderId: string): Promise<StoredOrder | undefined> {
    this.check();
    return this.orders.get(orderId);
  }

  async getLatest(): Promise<LatestEntry | undefined> {
    this.check();
    return this.latest && { order: this.latest, etag: String(this.etag()) };
  }

  async replaceLatest(order: StoredOrder, etag: string | undefined): Promise<boolean> {
    this.check();
    if (this.failLatestWrites) throw new StateUnavailableError('write', 'injected');
    if (etag !== (this.latest ? String(this.etag()) : undefined)) return false;
    this.writes += 1;
    this.latest = order;
    this.versionOf = order;
    this.latestVersion += 1;
    return true;
  }

  private etag(): number {
    if (this.versionOf !== this.latest) {
      this.versionOf = this.latest;
      this.latestVersion += 1;
    }
    return this.latestVersion;
  }

  async ping(): Promise<void> {
    this.check();
  }

  private check(): void {
    if (this.failing) throw new StateUnavailableError('call', 'injected');
  }
}
