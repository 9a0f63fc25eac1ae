import { type DaprClient, HttpMethod } from '@dapr/dapr';
import type { NewOrder } from './new-order';

/** What one delivery attempt came to. */
export type Delivery =
  | { kind: 'accepted' }
  /** The store refused the order itself (4xx): sending it again would not help. */
  | { kind: 'rejected'; status: number; reason: string }
  /** A network error, a timeout or a 5xx: the order may or may not be stored, so send it again. */
  | { kind: 'retry'; status?: number; reason: string };

export type SendOrder = (order: NewOrder, attempt: number) => Promise<Delivery>;

/** Sends orders to order-store's `neworder` through Dapr service invocation (own sidecar, then the store's). */
export function daprSender(client: DaprClient, storeAppId: string, method: string, timeoutMs: number): SendOrder {
  return async (order, attempt) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Delivery>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'retry', reason: `no answer within ${timeoutMs}ms` }), timeoutMs);
    });
    const call = client.invoker
      .invoke(storeAppId, method, HttpMethod.POST, { data: order }, { headers: { 'x-order-attempt': String(attempt) } })
      .then(
        (): Delivery => ({ kind: 'accepted' }),
        (error: unknown): Delivery => classify(error),
      );
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The SDK throws `Error('{"status":409,"error_msg":"..."}')` for HTTP failures, other errors for the network. */
export function classify(error: unknown): Delivery {
  const message = error instanceof Error ? error.message : String(error);
  let status: number | undefined;
  let reason = message;
  try {
    const parsed = JSON.parse(message) as { status?: unknown; error_msg?: unknown };
    if (typeof parsed.status === 'number') status = parsed.status;
    if (typeof parsed.error_msg === 'string') reason = parsed.error_msg.slice(0, 500);
  } catch {
    // Not an HTTP answer: a connection error.
  }
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return { kind: 'rejected', status, reason };
  }
  return status === undefined ? { kind: 'retry', reason } : { kind: 'retry', status, reason };
}
