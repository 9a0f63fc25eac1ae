import { newOrderBody } from '@orders/contract';
import { sameOrder } from '../src/order';

const parse = (data: unknown) => newOrderBody.safeParse({ data });

describe('sameOrder', () => {
  test('compares content, not key order or the id type', () => {
    const a = parse({ orderId: 7, customer: 'c', total: 1 });
    const b = parse({ total: 1, customer: 'c', orderId: '7' });
    const c = parse({ orderId: 7, customer: 'd', total: 1 });
    if (!a.success || !b.success || !c.success) throw new Error('fixtures must parse');
    expect(sameOrder(a.data.data, b.data.data)).toBe(true);
    expect(sameOrder(a.data.data, c.data.data)).toBe(false);
  });
});
