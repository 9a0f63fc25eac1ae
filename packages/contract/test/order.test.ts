import { itemsTotalCents, newOrderBody } from '../src';

const parse = (data: unknown) => newOrderBody.safeParse({ data });

describe('the neworder body', () => {
  test('the quickstart body is an order; an integer id is kept as a string', () => {
    expect(parse({ orderId: '42' })).toMatchObject({ success: true, data: { data: { orderId: '42' } } });
    expect(parse({ orderId: 42 })).toMatchObject({ success: true, data: { data: { orderId: '42' } } });
  });

  test('a full order with items and a matching total is accepted', () => {
    const order = { orderId: 'a-1', customer: 'Zoë', items: [{ sku: 'oat-milk-1l', quantity: 3, unitPrice: 2.35 }], total: 7.05 };
    expect(parse(order).success).toBe(true);
  });

  test.each([
    ['no orderId', {}],
    ['an empty id', { orderId: '' }],
    ['a 65-character id', { orderId: 'x'.repeat(65) }],
    ['a slash in the id', { orderId: 'a/b' }],
    ['a negative integer id', { orderId: -1 }],
    ['a fractional id', { orderId: 1.5 }],
    ['a boolean id', { orderId: true }],
    ['an unknown field', { orderId: '1', coupon: 'x' }],
    ['a __proto__ key', JSON.parse('{"orderId":"1","__proto__":{"admin":true}}') as unknown],
    ['a control character in the customer', { orderId: '1', customer: 'a\u0000b' }],
    ['a lone surrogate in the customer', { orderId: '1', customer: 'a\ud800b' }],
    ['a zero quantity', { orderId: '1', items: [{ sku: 's', quantity: 0, unitPrice: 1 }] }],
    ['three decimals in a price', { orderId: '1', items: [{ sku: 's', quantity: 1, unitPrice: 1.005 }] }],
    ['a total that is not the sum', { orderId: '1', items: [{ sku: 's', quantity: 2, unitPrice: 1.1 }], total: 2.3 }],
    ['no items', { orderId: '1', items: [] }],
  ])('%s is refused', (_name, data) => {
    expect(parse(data).success).toBe(false);
  });

  test('a body other than {data: order} is refused', () => {
    expect(newOrderBody.safeParse({ orderId: '42' }).success).toBe(false);
    expect(newOrderBody.safeParse([{ data: { orderId: '42' } }]).success).toBe(false);
    expect(newOrderBody.safeParse({ data: { orderId: '42' }, extra: 1 }).success).toBe(false);
  });

  test('totals are compared in cents, so float sums do not cause false refusals', () => {
    const items = [{ sku: 'a', quantity: 3, unitPrice: 0.1 }, { sku: 'b', quantity: 1, unitPrice: 0.2 }];
    expect(itemsTotalCents(items)).toBe(50);
    expect(parse({ orderId: '1', items, total: 0.5 }).success).toBe(true);
  });

  test('a wrong total is refused at data.total, naming the sum it should be', () => {
    const result = parse({ orderId: '1', items: [{ sku: 's', quantity: 2, unitPrice: 1.1 }], total: 2.3 });
    expect(result.success ? [] : result.error.issues.map(({ path, message }) => ({ path, message }))).toEqual([
      { path: ['data', 'total'], message: 'expected the sum of the items, 2.2' },
    ]);
  });
});
