import { OrderBook } from '../src/orders';
import { StateUnavailableError } from '../src/state';
import { MemoryOrderState } from './memory-state';

describe('OrderBook.accept', () => {
  let state: MemoryOrderState;
  let clock: number;
  let book: OrderBook;

  const pointerErrors: unknown[] = [];

  beforeEach(() => {
    state = new MemoryOrderState();
    clock = Date.parse('2026-01-01T00:00:00Z');
    pointerErrors.length = 0;
    book = new OrderBook(state, () => new Date((clock += 1000)), {
      intervalMs: 10,
      maxRetryMs: 20,
      onWriteError: (error) => pointerErrors.push(error),
    });
  });

  test('a new order is stored with its acceptance time and becomes the latest', async () => {
    expect(await book.accept({ orderId: '1', customer: 'ada' })).toBe('created');
    expect(state.orders.get('1')).toEqual({ orderId: '1', customer: 'ada', acceptedAt: '2026-01-01T00:00:01.000Z' });
    expect((await book.latest())?.orderId).toBe('1');
    await book.flushLatest();
    expect(state.latest?.orderId).toBe('1');
  });

  test("an insert reported refused that stored this very order counts as created: the sidecar's retry, or a partly failed batch", async () => {
    const insert = state.insert.bind(state);
    state.insert = async (order) => {
      await insert(order);
      return false;
    };
    expect(await book.accept({ orderId: '1', customer: 'ada' })).toBe('created');
    await book.flushLatest();
    expect(state.latest?.orderId).toBe('1');
    // The same order again, accepted a second later, is a duplicate as before.
    expect(await book.accept({ orderId: '1', customer: 'ada' })).toBe('duplicate');
  });

  test('latest() answers with an order accepted here before the pointer has caught up', async () => {
    await book.accept({ orderId: '1' });
    await book.flushLatest();
    state.failLatestWrites = true;
    await book.accept({ orderId: '2' });
    expect(state.latest?.orderId).toBe('1');
    expect((await book.latest())?.orderId).toBe('2');
    state.failLatestWrites = false;
    await book.flushLatest();
  });

  test('the same order again is a duplicate and changes nothing', async () => {
    await book.accept({ orderId: '1', customer: 'ada' });
    await book.accept({ orderId: '2' });
    await book.flushLatest();
    const writes = state.writes;
    expect(await book.accept({ orderId: '1', customer: 'ada' })).toBe('duplicate');
    expect(await book.accept({ orderId: '1', customer: 'ada' }, { resend: true })).toBe('duplicate');
    await book.flushLatest();
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

  test('a failed pointer write does not fail the order, and is tried again until it succeeds', async () => {
    await book.accept({ orderId: '1' });
    await book.flushLatest();
    state.failLatestWrites = true;
    expect(await book.accept({ orderId: '2' })).toBe('created');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pointerErrors.length).toBeGreaterThan(0);
    expect(state.latest?.orderId).toBe('1');
    state.failLatestWrites = false;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(state.latest?.orderId).toBe('2');
  });

  test('a resend moves on a pointer left behind by a process that died before writing it', async () => {
    await book.accept({ orderId: '1' });
    await book.accept({ orderId: '2' });
    await book.flushLatest();
    state.latest = state.orders.get('1');
    const restarted = new OrderBook(state, () => new Date((clock += 1000)));
    expect(await restarted.accept({ orderId: '2' }, { resend: true })).toBe('duplicate');
    await restarted.flushLatest();
    expect(state.latest?.orderId).toBe('2');
    expect(await restarted.accept({ orderId: '1' }, { resend: true })).toBe('duplicate');
    await restarted.flushLatest();
    expect(state.latest?.orderId).toBe('2');
  });

  test('a store failure surfaces as StateUnavailableError', async () => {
    state.failing = true;
    await expect(book.accept({ orderId: '1' })).rejects.toBeInstanceOf(StateUnavailableError);
  });
});
