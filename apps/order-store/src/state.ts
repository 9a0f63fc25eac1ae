import { DaprHttpError, type DaprSidecar } from '@orders/common';
import type { StoredOrder } from './order';

/** The order store's view of its state: one key per order, plus the latest accepted order. */
export interface OrderState {
  /** Writes the order only if its key is absent; false when the store refused the write. */
  insert(order: StoredOrder): Promise<boolean>;
  get(orderId: string): Promise<StoredOrder | undefined>;
  putLatest(order: StoredOrder): Promise<void>;
  getLatest(): Promise<StoredOrder | undefined>;
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

// Redis versions start at 1, so this ETag never matches a stored order: the write succeeds only
// when the key is absent, and a present key is reported as an ETag mismatch (409), which daprd does
// not retry. An unreachable Redis is reported as a 409 too, so a refused insert is only called a
// duplicate after the order is read back (OrderBook.accept).
const NEVER_MATCHES = '-1';
const PING_TIMEOUT_MS = 2_000;

export class DaprOrderState implements OrderState {
  constructor(
    private readonly sidecar: DaprSidecar,
    private readonly storeName: string,
  ) {}

  async insert(order: StoredOrder): Promise<boolean> {
    try {
      await this.sidecar.saveState(this.storeName, [
        {
          key: orderKey(order.orderId),
          value: order,
          etag: NEVER_MATCHES,
          options: { concurrency: 'first-write', consistency: 'strong' },
        },
      ]);
      return true;
    } catch (error) {
      if (error instanceof DaprHttpError && error.status === 409) return false;
      throw new StateUnavailableError('insert', error);
    }
  }

  async get(orderId: string): Promise<StoredOrder | undefined> {
    return this.read(orderKey(orderId));
  }

  async putLatest(order: StoredOrder): Promise<void> {
    try {
      await this.sidecar.saveState(this.storeName, [{ key: LATEST_KEY, value: order }]);
    } catch (error) {
      throw new StateUnavailableError('write', error);
    }
  }

  async getLatest(): Promise<StoredOrder | undefined> {
    return this.read(LATEST_KEY);
  }

  async ping(): Promise<void> {
    // A readiness probe gives up after a second or two; so does this.
    await this.read(LATEST_KEY, PING_TIMEOUT_MS);
  }

  // Only order-store writes these keys, and only as StoredOrder.
  private async read(key: string, timeoutMs?: number): Promise<StoredOrder | undefined> {
    try {
      return (await this.sidecar.getState(this.storeName, key, { timeoutMs })) as StoredOrder | undefined;
    } catch (error) {
      throw new StateUnavailableError('read', error);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
