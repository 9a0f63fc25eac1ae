import { type DaprSidecar, type SidecarResponse } from '@orders/common';
import { ATTEMPT_HEADER, confirmsOrder } from '@orders/contract';
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
export function daprSender(sidecar: DaprSidecar, storeAppId: string, method: string, timeoutMs: number): SendOrder {
  return (order, attempt) =>
    sidecar
      .invoke(storeAppId, method, { data: order }, { headers: { [ATTEMPT_HEADER]: String(attempt) }, timeoutMs })
      .then((res) => classify(res, order.orderId), (error: unknown) => ({ kind: 'retry', reason: error instanceof Error ? error.message : String(error) }));
}

/**
 * A 2xx confirms the order only when its body names it (confirmsOrder); 4xx means the order itself
 * was refused, except 408 and 429, which say "later".
 */
export function classify(res: Pick<SidecarResponse, 'status' | 'body'>, orderId: string): Delivery {
  if (res.status >= 200 && res.status < 300) {
    if (confirmsOrder(res.body, orderId)) return { kind: 'accepted' };
    return { kind: 'retry', status: res.status, reason: `a ${res.status} that does not name the order: ${JSON.stringify(res.body.slice(0, 200))}` };
  }
  const reason = res.body.slice(0, 500);
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    return { kind: 'rejected', status: res.status, reason };
  }
  return { kind: 'retry', status: res.status, reason };
}
