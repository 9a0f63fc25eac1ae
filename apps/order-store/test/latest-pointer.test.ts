import { LatestPointer, type LatestPointerOptions } from '../src/latest-pointer';
import type { StoredOrder } from '../src/order';

const order = (orderId: string, second: number): StoredOrder => ({
  orderId,
  acceptedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
});

/**
 * A pointer write that finishes only when the test says so: with the order written, with a newer
 * one another replica wrote, or with an error.
 */
function controlledWrites() {
  const writes: string[] = [];
  const finish: Array<(outcome?: Error | StoredOrder) => void> = [];
  const write = (stored: StoredOrder) =>
    new Promise<StoredOrder>((resolve, reject) => {
      writes.push(stored.orderId);
      finish.push((outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome ?? stored)));
    });
  return { writes, finish, write };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('LatestPointer', () => {
  const errors: string[] = [];
  const options: LatestPointerOptions = { intervalMs: 40, maxRetryMs: 200, onWriteError: (error) => errors.push(String(error)) };
  beforeEach(() => (errors.length = 0));

  test('when the store is quiet, an order is written at once', async () => {
    const { writes, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    void pointer.offer(order('a', 1));
    await sleep(5);
    expect(writes).toEqual(['a']);
  });

  test('an order offered when the store is quiet resolves once its write lands; one offered under load at once', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    let quietDone = false;
    const quiet = pointer.offer(order('a', 1)).then(() => (quietDone = true));
    await sleep(5);
    expect(writes).toEqual(['a']);
    expect(quietDone).toBe(false);
    let loadDone = false;
    const underLoad = pointer.offer(order('b', 2)).then(() => (loadDone = true));
    await sleep(5);
    expect(loadDone).toBe(true);
    finish[0]!();
    await quiet;
    expect(quietDone).toBe(true);
    await underLoad;
    await sleep(60);
    finish[1]!();
    await pointer.flush();
  });

  test('a failed write still lets the order it waited for be acknowledged', async () => {
    const { finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    const quiet = pointer.offer(order('a', 1));
    await sleep(5);
    finish[0]!(new Error('store down'));
    await expect(quiet).resolves.toBeUndefined();
    expect(errors).toEqual(['Error: store down']);
    await sleep(90);
    finish[1]!();
  });

  test('under load, the orders of one interval share one write, which stores the newest', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    void pointer.offer(order('a', 1));
    await sleep(5);
    finish[0]!();
    for (const [id, second] of [['c', 3], ['b', 2], ['d', 4]] as const) void pointer.offer(order(id, second));
    await sleep(10);
    expect(writes).toEqual(['a']);
    await sleep(50);
    expect(writes).toEqual(['a', 'd']);
    finish[1]!();
    await sleep(60);
    expect(writes).toEqual(['a', 'd']);
  });

  test('an order older than one already offered never moves the pointer back', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    void pointer.offer(order('new', 5));
    await sleep(5);
    finish[0]!();
    void pointer.offer(order('old', 1));
    void pointer.offer(order('new', 5));
    await sleep(60);
    expect(writes).toEqual(['new']);
  });

  test("another replica's newer order in the pointer makes ours unnecessary: no second write, flush is done", async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    void pointer.offer(order('a', 1));
    await sleep(5);
    void pointer.offer(order('b', 2));
    finish[0]!(order('theirs', 9));
    await sleep(80);
    expect(writes).toEqual(['a']);
    await pointer.flush();
    expect(writes).toEqual(['a']);
  });

  test('flush waits for the orders offered before it, not for those offered while it waits', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, { ...options, intervalMs: 60_000 });
    void pointer.offer(order('a', 1));
    await sleep(5);
    let flushed = false;
    const flushing = pointer.flush().then(() => (flushed = true));
    void pointer.offer(order('b', 2));
    finish[0]!();
    await flushing;
    expect(flushed).toBe(true);
    expect(writes).toEqual(['a']);
  });

  test('a failed write is reported and tried again, unless a newer order replaced it', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    void pointer.offer(order('a', 1));
    await sleep(5);
    finish[0]!(new Error('store down'));
    await sleep(5);
    expect(errors).toEqual(['Error: store down']);
    await sleep(90);
    expect(writes).toEqual(['a', 'a']);
    void pointer.offer(order('b', 2));
    finish[1]!(new Error('still down'));
    await sleep(200);
    expect(writes).toEqual(['a', 'a', 'b']);
    finish[2]!();
  });

  test('a write started by flush is never joined by a second one from the timer', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, options);
    void pointer.offer(order('a', 1));
    await sleep(5);
    void pointer.offer(order('b', 2));
    const flushed = pointer.flush();
    finish[0]!();
    await sleep(5);
    expect(writes).toEqual(['a', 'b']);
    void pointer.offer(order('c', 3));
    await sleep(80);
    expect(writes).toEqual(['a', 'b']);
    finish[1]!();
    await sleep(5);
    // flush also waits for c, offered before it was done.
    expect(writes).toEqual(['a', 'b', 'c']);
    finish[2]!();
    await flushed;
  });

  test('flush writes what is pending without waiting for the interval, and reports failure', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write, { ...options, intervalMs: 60_000 });
    void pointer.offer(order('a', 1));
    await sleep(5);
    finish[0]!();
    void pointer.offer(order('b', 2));
    const flushed = pointer.flush();
    await sleep(5);
    expect(writes).toEqual(['a', 'b']);
    finish[1]!();
    await flushed;
    void pointer.offer(order('c', 3));
    const failed = pointer.flush();
    await sleep(5);
    finish[2]!(new Error('store down'));
    await expect(failed).rejects.toThrow('store down');
  });
});
