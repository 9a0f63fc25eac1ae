import { LatestPointer, type LatestPointerOptions, defaultPointerOptions } from './latest-pointer';
import { type Order, type StoredOrder, sameOrder } from './order';
import { type OrderState, StateUnavailableError } from './state';

export type AcceptOutcome = 'created' | 'duplicate' | 'conflict';

export interface AcceptOptions {
  /** A resend (the sender says so): look for the order before trying to insert it. */
  resend?: boolean;
}

/**
 * Accepts an order exactly once. The order's own key is written with insert-only semantics, and
 * the order is accepted once that write is; the latest-order pointer follows it (LatestPointer).
 * No write ever replaces a different order.
 */
export class OrderBook {
  private readonly latestPointer: LatestPointer;

  constructor(
    private readonly state: OrderState,
    private readonly now: () => Date = () => new Date(),
    pointer: Partial<LatestPointerOptions> = {},
  ) {
    this.latestPointer = new LatestPointer((order) => state.putLatest(order), {
      ...defaultPointerOptions,
      onWriteError: () => {},
      ...pointer,
    });
  }

  async accept(order: Order, options: AcceptOptions = {}): Promise<AcceptOutcome> {
    if (options.resend) {
      const existing = await this.state.get(order.orderId);
      if (existing) return this.resolveExisting(existing, order);
    }
    const stored: StoredOrder = { ...order, acceptedAt: this.now().toISOString() };
    if (await this.state.insert(stored)) {
      this.latestPointer.offer(stored);
      return 'created';
    }
    const existing = await this.state.get(order.orderId);
    if (!existing) {
      // Insert refused yet nothing stored: the key vanished in between. Let the sender retry.
      throw new StateUnavailableError('insert', `order ${order.orderId} was neither inserted nor found`);
    }
    if (existing.acceptedAt === stored.acceptedAt && sameOrder(existing, order)) {
      // Our own write, reported refused: a batch that failed in part, or a write the sidecar
      // retried after it had landed.
      this.latestPointer.offer(stored);
      return 'created';
    }
    return this.resolveExisting(existing, order);
  }

  get(orderId: string): Promise<StoredOrder | undefined> {
    return this.state.get(orderId);
  }

  /** The pointer's order, or a newer one this process accepted that the pointer has yet to reach. */
  async latest(): Promise<StoredOrder | undefined> {
    const stored = await this.state.getLatest();
    const local = this.latestPointer.newest();
    if (!stored || !local) return stored ?? local;
    return local.acceptedAt > stored.acceptedAt ? local : stored;
  }

  /** Writes the pointer for every order accepted so far; for a clean shutdown. */
  flushLatest(): Promise<void> {
    return this.latestPointer.flush();
  }

  private async resolveExisting(existing: StoredOrder, order: Order): Promise<AcceptOutcome> {
    if (!sameOrder(existing, order)) return 'conflict';
    // A process killed before its pointer write leaves the pointer behind: a resend moves it on,
    // never back past an order accepted after this one.
    const latest = await this.state.getLatest();
    if (!latest || latest.acceptedAt < existing.acceptedAt) this.latestPointer.offer(existing);
    return 'duplicate';
  }
}
