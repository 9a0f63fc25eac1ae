import { LatestPointer } from './latest-pointer';
import { type Order, type StoredOrder, sameOrder } from './order';
import { type OrderState, StateUnavailableError } from './state';

export type AcceptOutcome = 'created' | 'duplicate' | 'conflict';

export interface AcceptOptions {
  /** A resend (the sender says so): look for the order before trying to insert it. */
  resend?: boolean;
}

/**
 * Accepts an order exactly once. The order's own key is written first, with insert-only
 * semantics, and the latest-order pointer after it; a resend of an accepted order repairs the
 * pointer if a failure came between the two writes. No write ever replaces a different order.
 */
export class OrderBook {
  private readonly latestPointer: LatestPointer;

  constructor(
    private readonly state: OrderState,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.latestPointer = new LatestPointer((order) => state.putLatest(order));
  }

  async accept(order: Order, options: AcceptOptions = {}): Promise<AcceptOutcome> {
    if (options.resend) {
      const existing = await this.state.get(order.orderId);
      if (existing) return this.resolveExisting(existing, order);
    }
    const stored: StoredOrder = { ...order, acceptedAt: this.now().toISOString() };
    if (await this.state.insert(stored)) {
      await this.latestPointer.offer(stored);
      return 'created';
    }
    const existing = await this.state.get(order.orderId);
    if (!existing) {
      // Insert refused yet nothing stored: the key vanished in between. Let the sender retry.
      throw new StateUnavailableError('insert', `order ${order.orderId} was neither inserted nor found`);
    }
    return this.resolveExisting(existing, order);
  }

  get(orderId: string): Promise<StoredOrder | undefined> {
    return this.state.get(orderId);
  }

  latest(): Promise<StoredOrder | undefined> {
    return this.state.getLatest();
  }

  private async resolveExisting(existing: StoredOrder, order: Order): Promise<AcceptOutcome> {
    if (!sameOrder(existing, order)) return 'conflict';
    // The first attempt may have failed between its two writes: finish its pointer write, but
    // never move the pointer back past an order accepted after this one.
    const latest = await this.state.getLatest();
    if (!latest || latest.acceptedAt < existing.acceptedAt) await this.latestPointer.offer(existing);
    return 'duplicate';
  }
}
