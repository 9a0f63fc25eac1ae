import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { round } from './procstat';

export interface LoadSpec {
  url: string;
  connections: number;
  durationSec: number;
  /** The body of each request; called once per request, so each one can carry a new order id. */
  body: (orderId: string) => string;
  headers?: Record<string, string>;
}

export interface LoadResult {
  connections: number;
  durationSec: number;
  requests: number;
  /** Completed 2xx responses per second. */
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  statusCodes: Record<string, number>;
  /** The first non-2xx answer's status and body, to tell what went wrong. */
  firstError?: string;
}

// A run-unique prefix and a counter: ids never repeat within a Redis, even across targets.
const runPrefix = `b${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
let counter = 0;
export const nextOrderId = (): string => `${runPrefix}-${(counter++).toString(36)}`;

/** The order the load generator sends: the shape order-generator sends, a new id each time. */
export const orderBody = (orderId: string): string =>
  JSON.stringify({
    data: { orderId, customer: 'customer-42', items: [{ sku: 'oat-milk-1l', quantity: 1, unitPrice: 2.35 }], total: 2.35 },
  });

/** The value order-store keeps for that order: the order and when it was accepted. */
export const storedOrder = (orderId: string) => ({
  orderId,
  customer: 'customer-42',
  items: [{ sku: 'oat-milk-1l', quantity: 1, unitPrice: 2.35 }],
  total: 2.35,
  acceptedAt: new Date().toISOString(),
});

/** What order-store saves for that order: its key, insert-only (the ETag never matches). */
export const stateBody = (orderId: string): string =>
  JSON.stringify([
    {
      key: `order:${orderId}`,
      value: storedOrder(orderId),
      etag: '-1',
      options: { concurrency: 'first-write', consistency: 'strong' },
    },
  ]);

/**
 * One autocannon run of exactly `amount` requests over `connections` connections. A run that ends
 * by count lets every request finish; a run that ends by time drops the ones in flight, which
 * daprd counts as failed calls, and five of those in a row open the resiliency policy's circuit
 * breaker for 10 seconds (components/resiliency.yaml), failing whatever is measured next.
 */
async function fire(spec: LoadSpec, amount: number, onError: (status: number, body: string) => void): Promise<{ result: autocannon.Result; seconds: number }> {
  // autocannon notices the end only at its next one-second tick and reports whole seconds; time
  // the run from the start to the last answer instead.
  const started = performance.now();
  let lastAnswer = started;
  const result = await autocannon({
    url: spec.url,
    method: 'POST',
    connections: spec.connections,
    amount: Math.max(amount, spec.connections),
    timeout: 10,
    headers: { 'content-type': 'application/json', ...spec.headers },
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: spec.body(nextOrderId()) }),
        onResponse: (status, body) => {
          lastAnswer = performance.now();
          if (status < 200 || status > 299) onError(status, String(body));
        },
      },
    ],
  });
  return { result, seconds: Math.max(lastAnswer - started, 1) / 1000 };
}

/**
 * Keeps `connections` requests in flight (closed loop) for about durationSec and summarises what
 * came back. A short run first measures the rate, so that the measured run can end by count;
 * `onMeasuredRun` is called as the measured run starts, to leave the probe out of what is counted.
 */
export async function runLoad(spec: LoadSpec, onMeasuredRun: () => void = () => {}): Promise<LoadResult> {
  let firstError: string | undefined;
  const onError = (status: number, body: string) => {
    if (firstError === undefined) firstError = `${status} ${body.slice(0, 300)}`;
  };
  let amount = Math.max(50, spec.connections * 10);
  let rate = 0;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const probe = await fire(spec, amount, onError);
    rate = probe.result.requests.total / probe.seconds;
    if (probe.seconds >= Math.min(1, spec.durationSec / 4)) break;
    amount *= 4;
  }
  firstError = undefined;
  onMeasuredRun();
  const { result, seconds } = await fire(spec, Math.round(rate * spec.durationSec), onError);
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0;
  return {
    connections: spec.connections,
    durationSec: round(seconds, 2),
    requests: result.requests.total,
    rps: round(result['2xx'] / seconds, 1),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors + result.non2xx,
    statusCodes,
    ...(firstError === undefined ? {} : { firstError }),
  };
}
