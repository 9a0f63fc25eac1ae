import { orderSchema } from '@orders/contract';
import { newOrder } from '../src/new-order';

describe('newOrder', () => {
  test('every order it makes is one the store accepts, the total in whole cents included', () => {
    const lowest = () => 0;
    const highest = (max: number) => max - 1;
    const orders = [newOrder('low', lowest), newOrder('high', highest), ...Array.from({ length: 2_000 }, (_, i) => newOrder(`random-${i}`))];
    const refused = orders.flatMap((order) => {
      const parsed = orderSchema.safeParse(order);
      return parsed.success ? [] : [{ order, issues: parsed.error.issues }];
    });
    expect(refused).toEqual([]);
  });
});
