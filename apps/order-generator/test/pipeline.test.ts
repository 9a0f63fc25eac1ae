import pino from 'pino';
import { newOrder } from '../src/new-order';
import { OrderPipeline, type PipelineOptions } from '../src/pipeline';
import type { Delivery, SendOrder } from '../src/sender';

const logger = pino({ level: 'silent' });
const options: PipelineOptions = {
  ordersPerSecond: 1_000,
  orderLimit: 0,
  maxInFlight: 4,
  backlogLimit: 10,
  backoff: { baseMs: 1, maxMs: 5 },
};

let counter = 0;
const makeOrder = () => newOrder(`order-${++counter}`);
const until = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!check()) throw new Error('condition never held');
};

describe('OrderPipeline', () => {
  test('orders that fail with a retryable outcome are sent again until accepted', async () => {
    const attempts = new Map<string, number>();
    const send: SendOrder = async (order, attempt) => {
      attempts.set(order.orderId, attempt);
      return attempt < 3 ? { kind: 'retry', reason: 'flaky' } : { kind: 'accepted' };
    };
    const pipeline = new OrderPipeline(send, makeOrder, { ...options, orderLimit: 5 }, logger);
    pipeline.start();
    await pipeline.whenFinished();
    expect(pipeline.snapshot()).toMatchObject({ generated: 5, accepted: 5, rejected: 0, retries: 10, backlog: 0 });
    expect([...attempts.values()]).toEqual([3, 3, 3, 3, 3]);
    await pipeline.stop(0);
  });

  test('a rejected order is dropped, not retried', async () => {
    const send: SendOrder = async () => ({ kind: 'rejected', status: 400, reason: 'bad' });
    const pipeline = new OrderPipeline(send, makeOrder, { ...options, orderLimit: 3 }, logger);
    pipeline.start();
    await pipeline.whenFinished();
    expect(pipeline.snapshot()).toMatchObject({ generated: 3, accepted: 0, rejected: 3, retries: 0 });
    await pipeline.stop(0);
  });

  test('a full backlog pauses generation instead of dropping orders, and resumes as orders are confirmed', async () => {
    const release: Array<() => void> = [];
    const send: SendOrder = () => new Promise<Delivery>((resolve) => release.push(() => resolve({ kind: 'accepted' })));
    const pipeline = new OrderPipeline(send, makeOrder, options, logger);
    pipeline.start();
    await until(() => pipeline.snapshot().generated === options.backlogLimit);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pipeline.snapshot()).toMatchObject({ generated: 10, backlog: 10, inFlight: 4, accepted: 0 });
    release.shift()!();
    await until(() => pipeline.snapshot().generated === 11);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pipeline.snapshot()).toMatchObject({ generated: 11, backlog: 10, accepted: 1 });
    await pipeline.stop(0);
  });

  test('stop reports what is still unconfirmed when the grace period ends', async () => {
    const send: SendOrder = () => new Promise<Delivery>(() => undefined);
    const warn = jest.fn();
    const spyLogger = Object.assign(pino({ level: 'silent' }), { warn, info: jest.fn() });
    const pipeline = new OrderPipeline(send, makeOrder, { ...options, orderLimit: 2 }, spyLogger);
    pipeline.start();
    await until(() => pipeline.snapshot().inFlight === 2);
    const stats = await pipeline.stop(20);
    expect(stats).toMatchObject({ generated: 2, backlog: 2 });
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls.map(([fields]) => (fields as { orderId: string }).orderId)).toHaveLength(2);
  });
});
