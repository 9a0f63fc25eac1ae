import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { Gauge, Registry, Summary, collectDefaultMetrics } from 'prom-client';

/** Where Prometheus (and the OpenTelemetry collector's prometheus receiver) scrapes an app: its METRICS_PORT, or else its own HTTP port. */
export const METRICS_PATH = '/metrics';

/**
 * Latency buckets in seconds, from a fast state call (under a millisecond) to the resiliency
 * policy's invoke timeout (8 s) and past it, for p50/p99 from the histogram.
 */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * A registry for one app: its own metrics, prefixed with the app's name, and Node's process
 * metrics (resident memory, CPU, event loop delay) that the bench and the dashboard read.
 */
export function createRegistry(app: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** A server of GET /metrics alone, for METRICS_PORT (settings.ts: metricsSettings); anything else is a JSON 404. */
export function createMetricsServer(registry: Registry): Server {
  return createServer((req, res) => {
    if (req.method === 'GET' && req.url === METRICS_PATH) return void serveMetrics(registry, req, res);
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: `only GET ${METRICS_PATH} here`, details: [] } }));
  });
}

/** Answers GET /metrics in Prometheus' text format. */
export async function serveMetrics(registry: Registry, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(body) }).end(body);
}

/** The quantiles RecentQuantiles reports: the dashboard's p50 and p99. */
const QUANTILES = [0.5, 0.99];

/**
 * A latency's p50 and p99 over the last minute, as a gauge with a `quantile` label. CloudWatch
 * computes percentiles only from raw values, not from the statistic sets a histogram becomes on
 * the way there ("Percentiles", Amazon CloudWatch User Guide:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Percentiles),
 * so the EKS dashboard plots these; Prometheus users have the histogram beside it.
 */
export function recentQuantiles(registry: Registry, name: string, help: string): { observe(seconds: number): void } {
  const window = new Summary({ name: `${name}_window`, help, percentiles: QUANTILES, maxAgeSeconds: 60, ageBuckets: 6, registers: [] });
  new Gauge({
    name,
    help: `${help} Over the last 60 s, by quantile.`,
    labelNames: ['quantile'],
    registers: [registry],
    async collect() {
      for (const { labels, value } of (await window.get()).values) {
        if (labels.quantile !== undefined) this.set({ quantile: String(labels.quantile) }, Number.isNaN(value) ? 0 : value);
      }
    },
  });
  return { observe: (seconds) => window.observe(seconds) };
}
