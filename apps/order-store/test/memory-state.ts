import type { StoredOrder } from '../src/order';
import { type OrderState, StateUnavailableError } from '../src/state';

/**
 * The OrderState contract in memory, for unit tests of the logic above it: insert-only writes,
 * plus switches to make the store fail. The Dapr implementation is tested on real sidecars.
 */
export class MemoryOrderState implements OrderState {
  readonly orders = new Map<string, StoredOrder>();
  latest: StoredOrder | undefined;
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

  async putLatest(order: StoredOrder): Promise<void> {
    this.check();
    if (this.failLatestWrites) throw new StateUnavailableError('write', 'injected');
    this.writes += 1;
    this.latest = order;
  }

  async getLatest(): Promise<StoredOrder | undefined> {
    this.check();
    return this.latest;
  }

  async ping(): Promise<void> {
    this.check();
  }

  private check(): void {
    if (this.failing) throw new StateUnavailableError('call', 'injected');
  }
}
