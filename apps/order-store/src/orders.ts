import { trace } from '@opentelemetry/api';
import { failSpan } from '@orders/common';
import type { Order } from '@orders/contract';
import { AcceptanceClock, isNewer } from './acceptance-clock';
import { LatestPointer, type LatestPointerOptions, defaultPointerOptions } from './latest-pointer';
import { type StoredOrder, sameOrder } from './order';
import { type OrderState, StateUnavailableError } from './state';

/**
 * A pointer write refused this many times in a row (each time because another replica wrote
 * first) is given up and tried again later; replicas write the pointer at most once per interval
 * each, so losing that often means something other than them is writing it.
 */
const MAX_POINTER_RACES = 16;

export type AcceptOutcome = 'created' | 'duplicate' | 'conflict';

const tracer = trace.getTracer('order-store');

export interface AcceptOptions {
  /** A resend (the sender says so): look for the order before trying to insert it. */
  resend?: boolean;
}

/**
 * Accepts an order exactly once. The order's own key is written with insert-only semantics, and
 * the order is accepted once that write is; the latest-order pointer follows it (LatestPointer).
 * No write ever replaces a different order, and the pointer, which every replica writes, only
 * moves to newer orders (advanceLatest).
 */
export class OrderBook {
  private readonly latestPointer: LatestPointer;

  constructor(
    private readonly state: OrderState,
    private readonly clock = new AcceptanceClock(),
    pointer: Partial<LatestPointerOptions> = {},
    private readonly onPointerWritten: (races: number) => void = () => {},
  ) {
    this.latestPointer = new LatestPointer((order) => this.advanceLatest(order), {
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
    const stored: StoredOrder = { ...order, acceptedAt: this.clock.next() };
    if (await this.state.insert(stored)) {
      await this.latestPointer.offer(stored);
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
      await this.latestPointer.offer(stored);
      return 'created';
    }
    return this.resolveExisting(existing, order);
  }

  get(orderId: string): Promise<StoredOrder | undefined> {
    return this.state.get(orderId);
  }

  /**
   * The newest order any replica has put in the shared pointer, after this replica has put in its
   * own: never older than an answer any replica gave before, since the pointer only moves forward.
   */
  async latest(): Promise<StoredOrder | undefined> {
    await this.latestPointer.flush();
    const entry = await this.state.getLatest();
    if (entry) this.clock.observe(entry.order.acceptedAt);
    return entry?.order;
  }

  /** Writes the pointer for every order accepted so far; for a clean shutdown. */
  flushLatest(): Promise<void> {
    return this.latestPointer.flush();
  }

  private async resolveExisting(existing: StoredOrder, order: Order): Promise<AcceptOutcome> {
    if (!sameOrder(existing, order)) return 'conflict';
    // A process killed before its pointer write leaves the pointer behind: a resend moves it on,
    // never back past a newer order (advanceLatest).
    this.clock.observe(existing.acceptedAt);
    void this.latestPointer.offer(existing);
    return 'duplicate';
  }

  /**
   * A compare-and-set on the shared pointer: read it with its ETag, stop if it holds a newer
   * order, else replace it only if nobody wrote it since the read. Each write touches one key, so
   * nothing crosses Redis Cluster slots.
   */
  private advanceLatest(order: StoredOrder): Promise<StoredOrder> {
    return tracer.startActiveSpan('pointer write', { attributes: { 'order.id': order.orderId } }, async (span) => {
      try {
        for (let race = 0; race < MAX_POINTER_RACES; race += 1) {
          span.setAttribute('pointer.races', race);
          const current = await this.state.getLatest();
          if (current) {
            this.clock.observe(current.order.acceptedAt);
            if (!isNewer(order, current.order)) {
              span.setAttribute('pointer.newer_held', current.order.orderId);
              return current.order;
            }
          }
          if (await this.state.replaceLatest(order, current?.etag)) {
            this.onPointerWritten(race);
            return order;
          }
        }
        throw new StateUnavailableError('pointer write', `lost ${MAX_POINTER_RACES} races in a row for the latest-order pointer`);
      } catch (error) {
        failSpan(span, undefined, error instanceof Error ? error.message : String(error));
        throw error;
      } finally {
        span.end();
      }
    });
  }
}
