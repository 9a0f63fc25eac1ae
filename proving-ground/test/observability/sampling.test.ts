import { randomBytes } from 'node:crypto';
import { topology } from '@orders/common';
import type { AppProcess } from '../../harness/apps';
import { storeAppId } from '../../harness/daprd';
import type { Jaeger } from '../../../dev/src/jaeger';
import { runningProcesses, waitFor } from '../../../dev/src/processes';
import { type TracedStore, startTracedStore } from '../../harness/order-system';
import { tracesOfOrder } from '../../../dev/src/traces';

// On EKS only a share of orders is traced (tracing.samplingRate.deployed), and infra/cdk/README.md
// tells a user to follow one curl by sending it sampled. This holds only if sampling is
// parent-based in the app and its sidecar alike: checked with the app's own rate at 0, so that
// any trace of a request without context would show.

describe('sampling is parent-based: a request that arrives sampled is traced whatever the rate (real daprd, Redis, Jaeger)', () => {
  let traced: TracedStore;
  let jaeger: Jaeger;
  let store: AppProcess;

  beforeAll(async () => {
    traced = await startTracedStore({ daprSamplingRate: topology.tracing.samplingRate.deployed, storeEnv: { TRACE_SAMPLING_RATE: '0' } });
    ({ jaeger, store } = traced);
  });

  afterAll(async () => {
    await traced?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  const post = (orderId: string, headers: Record<string, string> = {}) =>
    fetch(`${store.url}/neworder`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ data: { orderId } }) });

  test('a sampled traceparent is kept in order-store and its sidecar; an order without one is not traced', async () => {
    expect((await post('unsampled-1')).status).toBe(201);
    const traceId = randomBytes(16).toString('hex');
    expect((await post('sampled-1', { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` })).status).toBe(201);

    await waitFor('the sampled order in Jaeger, with its sidecar state call', async () => {
      const [trace] = await tracesOfOrder(jaeger.queryUrl, 'sampled-1', [storeAppId]);
      return trace !== undefined && trace.spans.some((span) => span.process === 'daprd');
    }, 20_000);
    const traces = await tracesOfOrder(jaeger.queryUrl, 'sampled-1', [storeAppId]);
    expect(traces.map((trace) => trace.traceId)).toEqual([traceId]);
    expect(traces[0]!.spans.filter((span) => span.process === 'app').map((span) => span.name)).toEqual(expect.arrayContaining(['validate order', 'insert order']));

    // Both orders' spans leave order-store in the order they ended, and the sampled one is in Jaeger.
    expect(await tracesOfOrder(jaeger.queryUrl, 'unsampled-1', [storeAppId])).toEqual([]);
  });
});
