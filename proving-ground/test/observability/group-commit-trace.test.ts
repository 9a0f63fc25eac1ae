import type { AppProcess } from '../../harness/apps';
import { storeAppId } from '../../harness/daprd';
import type { Jaeger } from '../../../dev/src/jaeger';
import { runningProcesses, waitFor } from '../../../dev/src/processes';
import { type TracedStore, startTracedStore } from '../../harness/order-system';
import { type TraceTree, traceById, tracesOfOrder } from '../../../dev/src/traces';

/** Traces of order-store holding a span of this name, whole. */
async function tracesWith(jaeger: Jaeger, operation: string): Promise<TraceTree[]> {
  const params = new URLSearchParams({ service: storeAppId, operation, limit: '50', lookback: '1h' });
  const res = (await (await fetch(`${jaeger.queryUrl}/api/traces?${params.toString()}`)).json()) as { data: Array<{ traceID: string }> | null };
  return Promise.all((res.data ?? []).map((t) => traceById(jaeger.queryUrl, t.traceID)));
}

describe("a group commit's span links to every order it wrote, and each order's insert links back (real daprd, Redis, Jaeger)", () => {
  let traced: TracedStore;
  let jaeger: Jaeger;
  let store: AppProcess;

  beforeAll(async () => {
    traced = await startTracedStore();
    ({ jaeger, store } = traced);
  });

  afterAll(async () => {
    await traced?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  test('orders that arrive together: a group commit span linked to each, with the state call beneath it', async () => {
    const post = (orderId: string) =>
      fetch(`${store.url}/neworder`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { orderId } }) });
    // Requests that reach the store in one turn of its event loop share a batch; send bursts until one did.
    const batched = async () => (await (await fetch(`${store.url}/metrics`)).text()).match(/order_store_group_commit_batch_size_count\{[^}]*\} (\d+)/)?.[1];
    for (let burst = 0; burst < 10 && Number((await batched()) ?? 0) === 0; burst += 1) {
      const responses = await Promise.all(Array.from({ length: 16 }, (_, i) => post(`burst-${burst}-${i}`)));
      expect(responses.map((res) => res.status)).toEqual(responses.map(() => 201));
    }
    expect(Number(await batched())).toBeGreaterThan(0);

    let commit: TraceTree | undefined;
    await waitFor('a group commit trace with its sidecar span', async () => {
      [commit] = await tracesWith(jaeger, 'group commit');
      return commit !== undefined && commit.spans.some((span) => span.process === 'daprd');
    }, 20_000);
    const commitSpan = commit!.spans.find((span) => span.name === 'group commit')!;
    const size = Number(commitSpan.tags['orders.batch_size']);
    expect(size).toBeGreaterThan(1);
    expect(commitSpan.links).toHaveLength(size);
    // The state request that carried the batch is the sidecar's span beneath the group commit.
    expect(commit!.spans.filter((span) => span.process === 'daprd' && span.parentId === commitSpan.spanId)).toHaveLength(1);

    // Each linked span is an order's insert, in that order's own trace, linking back.
    for (const link of commitSpan.links) {
      const tree = await traceById(jaeger.queryUrl, link.traceId);
      const insert = tree.spans.find((span) => span.spanId === link.spanId)!;
      expect(insert.name).toBe('insert order');
      expect(insert.links).toEqual([{ traceId: commitSpan.traceId, spanId: commitSpan.spanId }]);
      const orderId = String(insert.tags['order.id']);
      expect((await tracesOfOrder(jaeger.queryUrl, orderId, [storeAppId])).map((t) => t.traceId)).toEqual([link.traceId]);
    }
  });
});
