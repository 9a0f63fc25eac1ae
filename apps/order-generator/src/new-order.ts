import { randomInt } from 'node:crypto';

export interface LineItem {
  sku: string;
  quantity: number;
  unitPrice: number;
}

export interface NewOrder {
  orderId: string;
  customer: string;
  items: LineItem[];
  total: number;
}

const CATALOGUE: ReadonlyArray<Omit<LineItem, 'quantity'>> = [
  { sku: 'espresso-beans-1kg', unitPrice: 24.5 },
  { sku: 'oat-milk-1l', unitPrice: 2.35 },
  { sku: 'paper-cups-50', unitPrice: 6.99 },
  { sku: 'grinder-burr-set', unitPrice: 41.0 },
];

/** A plausible order for the demo: one to three catalogue lines, with the total in whole cents. */
export function newOrder(orderId: string, pick: (max: number) => number = randomInt): NewOrder {
  const items = Array.from({ length: 1 + pick(3) }, () => {
    const product = CATALOGUE[pick(CATALOGUE.length)]!;
    return { ...product, quantity: 1 + pick(5) };
  });
  const cents = items.reduce((sum, item) => sum + Math.round(item.unitPrice * 100) * item.quantity, 0);
  return { orderId, customer: `customer-${1 + pick(1000)}`, items, total: cents / 100 };
}
