import { OrderBook } from '../src/orders';
import { StateUnavailableError } from '../src/state';
import { MemoryOrderState } from './memory-state';

describe('OrderBook.accept', () => {
  let state: MemoryOrderState;
  let clock: number;
  let book: OrderBook;

  beforeEach(() => {
    state = new MemoryOrderState();
    clock = Date.parse('2026-01-01T00:00:00Z');
    book = new OrderBook(state, () => new Date((clock += 1000)));
  });

  test('a new order is stored with its acceptance time and becomes the latest', async () => {
    expect(await book.accept({ orderId: '1', customer: 'ada' })).toBe('created');
    expect(state.orders.get('1')).toEqual({ orderId: '1', customer: 'ada', acceptedAt: '2026-01-01T00:00:01.000Z' });
    expect(state.latest?.orderId).toBe('1');
  });

  test('the same order again is a duplicate and changes nothing', async () => {
    await book.accept({ orderId: '1', customer: 'ada' });
    await book.accept({ orderId: '2' });
    const writes = state.writes;
    expect(await book.accept({ orderId: '1', customer: 'ada' })).toBe('duplicate');
    expect(await book.accept({ orderId: '1', customer: 'ada' }, { resend: true })).toBe('duplicate');
    expect(state.writes).toBe(writes);
    expect(state.latest?.orderId).toBe('2');
    expect(state.orders.get('1')?.acceptedAt).toBe('2026-01-01T00:00:01.000Z');
  });

  test('the same id with other content is a conflict and keeps the first order', async () => {
    await book.accept({ orderId: '1', customer: 'ada' });
    expect(await book.accept({ orderId: '1', customer: 'grace' })).toBe('conflict');
    expect(await book.accept({ orderId: '1', customer: 'grace' }, { resend: true })).toBe('conflict');
    expect(state.orders.get('1')?.customer).toBe('ada');
  });

  test('a resend repairs the latest pointer that a failure between the two writes left behind', async () => {
    await book.accept({ orderId: '1' });
    state.failLatestWrites = true;
    await expect(book.accept({ orderId: '2' })).rejects.toBeInstanceOf(StateUnavailableError);
    expect(state.orders.has('2')).toBe(true);
    expect(state.latest?.orderId).toBe('1');
    state.failLatestWrites = false;
    expect(await book.accept({ orderId: '2' }, { resend: true })).toBe('duplicate');
    expect(state.latest?.orderId).toBe('2');
  });

  test('a store failure surfaces as StateUnavailableError', async () => {
    state.failing = true;
    await expect(book.accept({ orderId: '1' })).rejects.toBeInstanceOf(StateUnavailableError);
  });
});
