import topology from '@orders/common/topology.json';

// The app ids and the method name are defined in topology.json, which scripts, deploy/ and
// dapr.yaml are checked against; they are read as JSON so that the contract loads no more than zod.

/** The Dapr app id order-store runs under: order-generator invokes it by this id. */
export const ORDER_STORE_APP_ID = topology.orderStore.appId;

/** The Dapr app id order-generator runs under: order-store's access control lets it call `neworder`. */
export const ORDER_GENERATOR_APP_ID = topology.orderGenerator.appId;

/**
 * The method order-generator invokes on order-store (`/v1.0/invoke/order-store/method/neworder`);
 * the store's sidecar delivers it as `POST /neworder`.
 */
export const NEW_ORDER_METHOD = topology.newOrderMethod;

/**
 * The delivery attempt an order is on, 1 for the first: order-generator sends it with every attempt,
 * and order-store looks for an order already stored before writing one sent again.
 */
export const ATTEMPT_HEADER = 'x-order-attempt';

/** Whether an attempt header's value marks the order as sent before; no header is a first attempt. */
export function isResend(attempt: string | string[] | undefined): boolean {
  return typeof attempt === 'string' && Number(attempt) > 1;
}

/** What order-store answers a stored order with: 201 when it stored it now, 200 when it already had it. */
export interface NewOrderAnswer {
  orderId: string;
}

/**
 * Whether a 2xx answer's body confirms this order: it names the order's id. A 2xx that does not
 * came from something between the two apps, not from order-store, and confirms nothing: daprd
 * 1.18.2 was seen answering 200 with an empty body, during retries of calls to an app that was
 * down, for an order the app never received (proving-ground/chaos/README.md, "Confirmed end to end").
 */
export function confirmsOrder(body: string, orderId: string): boolean {
  try {
    const answer: unknown = JSON.parse(body);
    return typeof answer === 'object' && answer !== null && 'orderId' in answer && answer.orderId === orderId;
  } catch {
    return false;
  }
}
