import { DaprClient, StateConcurrencyEnum, StateConsistencyEnum } from '@dapr/dapr';
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

export class DaprOrderState implements OrderState {
  constructor(
    private readonly client: DaprClient,
    private readonly storeName: string,
  ) {}

  async insert(order: StoredOrder): Promise<boolean> {
    const { error } = await this.client.state.save(this.storeName, [
      {
        key: orderKey(order.orderId),
        value: order,
        etag: NEVER_MATCHES,
        options: {
          concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE,
          consistency: StateConsistencyEnum.CONSISTENCY_STRONG,
        },
      },
    ]);
    if (!error) return true;
    if (statusOf(error) === 409) return false;
    throw new StateUnavailableError('insert', error);
  }

  async get(orderId: string): Promise<StoredOrder | undefined> {
    return this.read(orderKey(orderId));
  }

  async putLatest(order: StoredOrder): Promise<void> {
    const { error } = await this.client.state.save(this.storeName, [{ key: LATEST_KEY, value: order }]);
    if (error) throw new StateUnavailableError('write', error);
  }

  async getLatest(): Promise<StoredOrder | undefined> {
    return this.read(LATEST_KEY);
  }

  async ping(): Promise<void> {
    await this.read(LATEST_KEY);
  }

  private async read(key: string): Promise<StoredOrder | undefined> {
    let value: unknown;
    try {
      value = await this.client.state.get(this.storeName, key);
    } catch (error) {
      throw new StateUnavailableError('read', error);
    }
    // The SDK answers an absent key with an empty string.
    return value === '' || value === undefined || value === null ? undefined : (value as StoredOrder);
  }
}

/** The SDK reports HTTP failures as an Error whose message is `{"status":...,"error_msg":...}`. */
function statusOf(error: unknown): number | undefined {
  try {
    const parsed: unknown = JSON.parse(error instanceof Error ? error.message : String(error));
    return typeof parsed === 'object' && parsed !== null && 'status' in parsed && typeof parsed.status === 'number'
      ? parsed.status
      : undefined;
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
