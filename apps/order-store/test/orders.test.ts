import { AcceptanceClock } from '../src/acceptance-clock';
import { OrderBook } from '../src/orders';
import { type OrderState, StateUnavailableError } from '../src/state';
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
    book = new OrderBook(state, new AcceptanceClock(() => (clock += 1000)), {
      intervalMs: 10,
      maxRetryMs: 20,
      onWriteError: (error) => pointerErrors.push(error),
    });
  });

  test('a new order is stored with its acceptance time and becomes the latest', async () => {
    expect(await book.accept({ orderId: '1', customer: 'ada' })).toBe('created');
    expect(state.orders.get('1')).toEqual({ orderId: '1', customer: 'ada', acceptedAt: '2026-01-01T00:00:01.000000Z' });
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

  test('latest() first puts the orders accepted here in the pointer, then answers what the pointer holds', async () => {
    book = new OrderBook(state, new AcceptanceClock(() => (clock += 1000)), { intervalMs: 60_000 });
    await book.accept({ orderId: '1' });
    await book.accept({ orderId: '2' });
    expect((await book.latest())?.orderId).toBe('2');
    expect(state.latest?.orderId).toBe('2');
  });

  test('latest() is unavailable, never stale, while the pointer cannot be written', async () => {
    await book.accept({ orderId: '1' });
    await book.flushLatest();
    state.failLatestWrites = true;
    await book.accept({ orderId: '2' });
    await expect(book.latest()).rejects.toBeInstanceOf(StateUnavailableError);
    state.failLatestWrites = false;
    expect((await book.latest())?.orderId).toBe('2');
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
    expect(state.orders.get('1')?.acceptedAt).toBe('2026-01-01T00:00:01.000000Z');
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
    const restarted = new OrderBook(state, new AcceptanceClock(() => (clock += 1000)));
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

describe('OrderBook on several replicas sharing one pointer', () => {
  /**
   * Two replicas write the pointer at once: A reads it, B reads it and writes a newer order, then
   * A's write lands. Returns what the pointer holds at the end.
   */
  async function interleavedPointerWrites(shared: MemoryOrderState): Promise<string | undefined> {
    let releaseA!: () => void;
    const aMayWrite = new Promise<void>((resolve) => (releaseA = resolve));
    const aReachedWrite = new Promise<void>((resolve) => {
      const asSeenByA: OrderState = {
        insert: (order) => shared.insert(order),
        get: (orderId) => shared.get(orderId),
        getLatest: () => shared.getLatest(),
        ping: () => shared.ping(),
        replaceLatest: async (order, etag) => {
          resolve();
          await aMayWrite;
          return shared.replaceLatest(order, etag);
        },
      };
      replicaA = new OrderBook(asSeenByA, new AcceptanceClock(() => Date.parse('2026-01-01T00:00:01Z')), { intervalMs: 0 });
    });
    const replicaB = new OrderBook(shared, new AcceptanceClock(() => Date.parse('2026-01-01T00:00:02Z')), { intervalMs: 0 });
    // A's order comes when the store is quiet, so A acknowledges it only once its pointer write lands.
    const acceptedByA = replicaA.accept({ orderId: 'older' });
    await aReachedWrite;
    expect(await replicaB.accept({ orderId: 'newer' })).toBe('created');
    expect(shared.latest?.orderId).toBe('newer');
    releaseA();
    expect(await acceptedByA).toBe('created');
    await replicaA.flushLatest();
    return shared.latest?.orderId;
  }
  let replicaA: OrderBook;

  test('an older order never replaces a newer one, whichever replica writes last', async () => {
    expect(await interleavedPointerWrites(new MemoryOrderState())).toBe('newer');
  });

  test('the same interleaving moves a last-write pointer back (what order-store wrote before), so the test above can fail', async () => {
    const lastWrite = new MemoryOrderState();
    const conditional = lastWrite.replaceLatest.bind(lastWrite);
    lastWrite.replaceLatest = async (order) => conditional(order, (await lastWrite.getLatest())?.etag);
    expect(await interleavedPointerWrites(lastWrite)).toBe('older');
  });

  test('a replica whose clock is behind stamps its orders after the newest it has read from the pointer', async () => {
    const shared = new MemoryOrderState();
    const ahead = new OrderBook(shared, new AcceptanceClock(() => Date.parse('2026-01-01T00:10:00Z')));
    const behind = new OrderBook(shared, new AcceptanceClock(() => Date.parse('2026-01-01T00:00:00Z')));
    await ahead.accept({ orderId: 'first' });
    await ahead.flushLatest();
    expect((await behind.latest())?.orderId).toBe('first');
    await behind.accept({ orderId: 'second' });
    expect((await behind.latest())?.orderId).toBe('second');
    expect(shared.orders.get('second')!.acceptedAt > shared.orders.get('first')!.acceptedAt).toBe(true);
  });

  test('a reader alternating between replicas never sees the latest order go back', async () => {
    const shared = new MemoryOrderState();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const replicas = [0, 1, 2].map(() => new OrderBook(shared, new AcceptanceClock(() => (now += 7)), { intervalMs: 5 }));
    const seen: string[] = [];
    const writers = Array.from({ length: 60 }, (_, i) => replicas[i % 3]!.accept({ orderId: `o-${i}` }));
    for (let i = 0; i < 30; i += 1) {
      const latest = await replicas[i % 3]!.latest();
      if (latest) seen.push(latest.acceptedAt);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writers);
    for (const replica of replicas) await replica.flushLatest();
    expect(seen.length).toBeGreaterThan(0);
    expect([...seen].sort()).toEqual(seen);
    const newest = [...shared.orders.values()].map((order) => order.acceptedAt).sort().at(-1);
    expect(shared.latest?.acceptedAt).toBe(newest);
  });
});
