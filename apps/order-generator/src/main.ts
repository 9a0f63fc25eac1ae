import { createServer } from 'node:http';
import { DaprSidecar, METRICS_PATH, createLogger, createMetricsServer, exitOnSettingsError, listenOrExit, serveMetrics, startTracing } from '@orders/common';
import { NEW_ORDER_METHOD, ORDER_GENERATOR_APP_ID } from '@orders/contract';
import { type GeneratorConfig, loadGeneratorConfig } from './config';
import { generatorMetrics } from './metrics';
import { newOrder } from './new-order';
import { newOrderId } from './order-ids';
import { OrderPipeline } from './pipeline';
import { readiness } from './readiness';
import { daprSender } from './sender';

async function main(config: GeneratorConfig): Promise<void> {
  const tracing = startTracing({ serviceName: ORDER_GENERATOR_APP_ID, otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, samplingRate: config.TRACE_SAMPLING_RATE });
  const logger = createLogger('order-generator', config.LOG_LEVEL);
  const sidecar = new DaprSidecar({ host: config.DAPR_HOST, httpPort: config.DAPR_HTTP_PORT, apiToken: config.DAPR_API_TOKEN });
  const metrics = generatorMetrics();
  const pipeline = new OrderPipeline(
    daprSender(sidecar, config.ORDER_STORE_APP_ID, NEW_ORDER_METHOD, config.REQUEST_TIMEOUT_MS),
    () => newOrder(newOrderId()),
    {
      ordersPerSecond: config.ORDERS_PER_SECOND,
      orderLimit: config.ORDER_LIMIT,
      maxInFlight: config.MAX_IN_FLIGHT,
      backlogLimit: config.BACKLOG_LIMIT,
      backoff: { baseMs: config.RETRY_BASE_MS, maxMs: config.RETRY_MAX_MS },
    },
    logger,
    metrics.observer,
  );
  metrics.watch(pipeline);

  // Liveness for Kubernetes, and the pipeline's counters for operators, Prometheus and the benchmark.
  const health = createServer((req, res) => {
    if (req.url === METRICS_PATH && config.METRICS_PORT === undefined) return void serveMetrics(metrics.registry, req, res);
    const body = req.url === '/healthz' ? { status: 'ok' } : req.url === '/stats' ? pipeline.snapshot() : undefined;
    // Readiness: asks the sidecar (readiness.ts).
    if (req.url === '/readyz') {
      return void readiness(sidecar).then(({ status, body: answer }) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    }
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { error: { code: 'not_found', message: 'no such route', details: [] } }));
  });
  listenOrExit(health, config.PORT, logger);
  if (config.METRICS_PORT !== undefined) listenOrExit(createMetricsServer(metrics.registry), config.METRICS_PORT, logger, undefined, 'METRICS_PORT');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'order-generator stopping: no new orders');
    const stats = await pipeline.stop(config.SHUTDOWN_GRACE_MS);
    logger.info(stats, 'order-generator stopped');
    health.close();
    sidecar.close();
    await tracing.shutdown().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  logger.info({ sidecar: `${config.DAPR_HOST}:${config.DAPR_HTTP_PORT}` }, 'waiting for the Dapr sidecar');
  await sidecar.waitUntilReady(logger, 1_000, () => stopping);
  if (stopping) return;
  logger.info(
    { ordersPerSecond: config.ORDERS_PER_SECOND, store: config.ORDER_STORE_APP_ID },
    'sidecar ready: generating orders',
  );
  pipeline.start();
  await pipeline.whenFinished();
  logger.info({ orderLimit: config.ORDER_LIMIT }, 'order limit reached and every order confirmed');
  await stop('ORDER_LIMIT');
}

let config: GeneratorConfig;
try {
  config = loadGeneratorConfig();
} catch (error) {
  exitOnSettingsError(error);
}
main(config).catch((error: unknown) => {
  process.stderr.write(`order-generator failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
