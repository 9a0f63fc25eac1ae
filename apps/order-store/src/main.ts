import type { Server, ServerResponse } from 'node:http';
import { DaprSidecar, createLogger, createMetricsServer, exitOnSettingsError, listenOrExit, startTracing } from '@orders/common';
import { ORDER_STORE_APP_ID } from '@orders/contract';
import { type StoreConfig, loadStoreConfig } from './config';
import { storeMetrics } from './metrics';
import { OrderBook } from './orders';
import { createOrderStoreServer } from './routes';
import { DaprOrderState } from './state';

/** How long a stopping order-store goes on answering, with `Connection: close`, before it ends idle connections. */
const KEEP_ALIVE_HANDOFF_MS = 1_000;

/**
 * A client's keep-alive connection that the server ends while the client is sending on it sees a
 * reset. Once started, every answer not yet sent says `Connection: close`, so that a busy client
 * closes its own connection; the server ends those still idle KEEP_ALIVE_HANDOFF_MS later.
 */
function keepAliveHandoff(server: Server): { readonly started: boolean; start(): void } {
  let started = false;
  const unanswered = new Set<ServerResponse>();
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (started) {
      res.setHeader('connection', 'close');
      return;
    }
    unanswered.add(res);
    res.once('close', () => unanswered.delete(res));
  });
  return {
    get started() {
      return started;
    },
    start() {
      started = true;
      for (const res of unanswered) if (!res.headersSent) res.setHeader('connection', 'close');
    },
  };
}

function main(config: StoreConfig): void {
  const tracing = startTracing({ serviceName: ORDER_STORE_APP_ID, otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, samplingRate: config.TRACE_SAMPLING_RATE });
  const logger = createLogger('order-store', config.LOG_LEVEL);
  const metrics = storeMetrics();
  const sidecar = new DaprSidecar({ host: config.DAPR_HOST, httpPort: config.DAPR_HTTP_PORT, apiToken: config.DAPR_API_TOKEN });
  const state = new DaprOrderState(sidecar, config.STATESTORE_NAME, metrics);
  const book = new OrderBook(
    state,
    undefined,
    {
      onWriteError: (error, order) =>
        logger.warn({ err: error, orderId: order.orderId }, 'latest-order pointer write failed; trying again'),
    },
    (races) => metrics.pointerWritten(races),
  );
  const server = createOrderStoreServer({ book, ping: () => state.ping(), config, logger, metrics });
  listenOrExit(server, config.PORT, logger, () => logger.info({ port: config.PORT }, 'order-store listening'));
  // With METRICS_PORT, the metrics are off the port a load balancer publishes (deploy/order-store.yaml).
  const metricsServer = config.METRICS_PORT === undefined ? undefined : createMetricsServer(metrics.registry);
  if (metricsServer && config.METRICS_PORT !== undefined) listenOrExit(metricsServer, config.METRICS_PORT, logger, undefined, 'METRICS_PORT');
  // Node's own limits are the backstop behind the JSON 408 of BODY_TIMEOUT_MS.
  server.requestTimeout = config.BODY_TIMEOUT_MS + 5_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 65_000;

  const handoff = keepAliveHandoff(server);
  const stop = (signal: string) => {
    if (handoff.started) return;
    handoff.start();
    logger.info({ signal }, 'order-store stopping: finishing requests in flight');
    const deadline = setTimeout(() => {
      logger.warn('grace period over: closing remaining connections');
      server.closeAllConnections();
    }, config.SHUTDOWN_GRACE_MS).unref();
    metricsServer?.close();
    setTimeout(() => closeServer(deadline), KEEP_ALIVE_HANDOFF_MS).unref();
  };
  const closeServer = (deadline: NodeJS.Timeout) => {
    // close() ends the connections idle now, but a keep-alive connection whose request is in
    // flight stays open after its answer (for keepAliveTimeout): end each as it falls idle.
    const idleSweep = setInterval(() => server.closeIdleConnections(), 50).unref();
    server.close(() => {
      clearTimeout(deadline);
      clearInterval(idleSweep);
      void book
        .flushLatest()
        .catch((error: unknown) => logger.warn({ err: error }, 'the latest-order pointer may be behind'))
        .finally(() => {
          sidecar.close();
          logger.info('order-store stopped');
          void tracing.shutdown().finally(() => process.exit(0));
        });
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

try {
  main(loadStoreConfig());
} catch (error) {
  exitOnSettingsError(error);
}
