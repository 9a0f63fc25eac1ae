import { z } from 'zod';

/** Letters, digits and `-_.:`, 1 to 64 characters: safe in a URL path and in a Redis key. */
export const ORDER_ID_PATTERN = /^[A-Za-z0-9\-_.:]{1,64}$/;

const orderId = z
  .union([z.string(), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)])
  .transform(String)
  .pipe(z.string().regex(ORDER_ID_PATTERN, 'expected 1 to 64 letters, digits or -_.:'));

// Money in a currency's minor units would avoid floats, but the quickstart shape is decimal:
// accept at most two decimals and compare totals in cents.
const money = z
  .number()
  .nonnegative()
  .max(1_000_000_000)
  .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, 'expected at most two decimals');

/** Printable text: no control characters and no lone UTF-16 surrogates. */
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}\p{Cs}]+$/u, 'expected printable text');

const lineItem = z.strictObject({
  sku: z.string().regex(/^[A-Za-z0-9\-_.]{1,64}$/, 'expected 1 to 64 letters, digits or -_.'),
  quantity: z.number().int().min(1).max(10_000),
  unitPrice: money,
});

export type LineItem = z.infer<typeof lineItem>;

/** The items' sum in whole cents: an order's total must come to it, so that float sums do not cause false refusals. */
export function itemsTotalCents(items: readonly LineItem[]): number {
  return items.reduce((sum, item) => sum + Math.round(item.unitPrice * 100) * item.quantity, 0);
}

/** An order: only the id is required, as in the Dapr quickstarts; a total given with items must be their sum. */
export const orderSchema = z
  .strictObject({
    orderId,
    customer: text(128).optional(),
    items: z.array(lineItem).min(1).max(100).optional(),
    total: money.optional(),
  })
  .superRefine((order, ctx) => {
    if (order.items === undefined || order.total === undefined) return;
    const cents = itemsTotalCents(order.items);
    if (cents !== Math.round(order.total * 100)) {
      ctx.addIssue({ code: 'custom', path: ['total'], message: `expected the sum of the items, ${cents / 100}` });
    }
  });

/** The body of `neworder`, as the Dapr quickstarts send it: `{"data":{"orderId":"42"}}`. */
export const newOrderBody = z.strictObject({ data: orderSchema });

/** An order as order-store accepts it (the id always a string). */
export type Order = z.infer<typeof orderSchema>;
