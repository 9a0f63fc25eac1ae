import { randomInt } from 'node:crypto';
import { type LineItem, type Order, itemsTotalCents } from '@orders/contract';

/** What the generator sends: an order of the contract with every field filled in. */
export type NewOrder = Required<Order>;

const CATALOGUE: ReadonlyArray<Omit<LineItem, 'quantity'>> = [
  { sku: 'espresso-beans-1kg', unitPrice: 24.5 },
  { sku: 'oat-milk-1l', unitPrice: 2.35 },
  { sku: 'paper-cups-50', unitPrice: 6.99 },
  { sku: 'grinder-burr-set', unitPrice: 41.0 },
];

/** A plausible order for the demo: one to three catalogue lines, with the total the contract requires. */
export function newOrder(orderId: string, pick: (max: number) => number = randomInt): NewOrder {
  const items = Array.from({ length: 1 + pick(3) }, () => {
    const product = CATALOGUE[pick(CATALOGUE.length)]!;
    return { ...product, quantity: 1 + pick(5) };
  });
  return { orderId, customer: `customer-${1 + pick(1000)}`, items, total: itemsTotalCents(items) / 100 };
}
