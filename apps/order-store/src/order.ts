import type { Order } from '@orders/contract';

/** What the state store keeps for an order: the order as accepted, and when. */
export type StoredOrder = Order & { acceptedAt: string };

/** Two bodies are the same order when their validated content is equal, whatever the key order. */
export function sameOrder(a: Order, b: Order): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(order: Order): string {
  const { orderId, customer, items, total } = order;
  return JSON.stringify([orderId, customer ?? null, items?.map((i) => [i.sku, i.quantity, i.unitPrice]) ?? null, total ?? null]);
}

export function withoutAcceptedAt(stored: StoredOrder): Order {
  const { acceptedAt: _acceptedAt, ...order } = stored;
  return order;
}
