import { LatestPointer } from '../src/latest-pointer';
import type { StoredOrder } from '../src/order';

const order = (orderId: string, second: number): StoredOrder => ({
  orderId,
  acceptedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
});

/** A pointer write that finishes only when the test says so. */
function controlledWrites() {
  const writes: StoredOrder[] = [];
  const finish: Array<(error?: Error) => void> = [];
  const write = (stored: StoredOrder) =>
    new Promise<void>((resolve, reject) => {
      writes.push(stored);
      finish.push((error) => (error ? reject(error) : resolve()));
    });
  return { writes, finish, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('LatestPointer', () => {
  test('orders offered during a write share the next write, which stores the newest', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write);
    const first = pointer.offer(order('a', 1));
    const waiting = [pointer.offer(order('c', 3)), pointer.offer(order('b', 2)), pointer.offer(order('d', 4))];
    expect(writes.map((w) => w.orderId)).toEqual(['a']);
    finish[0]!();
    await first;
    await tick();
    expect(writes.map((w) => w.orderId)).toEqual(['a', 'd']);
    let settled = false;
    void Promise.all(waiting).then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    finish[1]!();
    await Promise.all(waiting);
    expect(writes).toHaveLength(2);
  });

  test('an order older than the pointer already written resolves at once and is not written', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write);
    const newer = pointer.offer(order('new', 5));
    finish[0]!();
    await newer;
    await pointer.offer(order('old', 1));
    expect(writes.map((w) => w.orderId)).toEqual(['new']);
  });

  test('a failed write rejects every order waiting on it; the next offer writes again', async () => {
    const { writes, finish, write } = controlledWrites();
    const pointer = new LatestPointer(write);
    const first = pointer.offer(order('a', 1));
    finish[0]!(new Error('store down'));
    await expect(first).rejects.toThrow('store down');
    const retry = pointer.offer(order('a', 1));
    finish[1]!();
    await retry;
    expect(writes.map((w) => w.orderId)).toEqual(['a', 'a']);
  });
});
