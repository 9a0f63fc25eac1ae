import { timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { METRICS_PATH, contextFromHeaders, failSpan, serveMetrics } from '@orders/common';
import { ATTEMPT_HEADER, NEW_ORDER_METHOD, type NewOrderAnswer, ORDER_ID_PATTERN, isResend, newOrderBody } from '@orders/contract';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { HttpError, answerError, errorHandler, sendError, sendJson } from './http-errors';
import { readJsonBody } from './json-body';
import { type StoreMetrics, storeMetrics } from './metrics';
import type { StoredOrder } from './order';
import type { AcceptOutcome, OrderBook } from './orders';
import { StateUnavailableError } from './state';

export interface RoutesConfig {
  BODY_LIMIT_BYTES: number;
  BODY_TIMEOUT_MS: number;
  WRITE_TOKEN?: string | undefined;
  APP_API_TOKEN?: string | undefined;
  PROTECT_READS: boolean;
  /** Set: GET /metrics is served there (main.ts), not on this server. */
  METRICS_PORT?: number | undefined;
}

export interface AppDependencies {
  book: OrderBook;
  ping: () => Promise<void>;
  config: RoutesConfig;
  logger: Logger;
  /** Counted and timed here and in the state layer; served at GET /metrics. */
  metrics?: StoreMetrics;
}

const RETRY_AFTER_SECONDS = '2';

/** Where order-generator's sidecar delivers each order (service invocation of `neworder`). */
const NEW_ORDER_PATH = `/${NEW_ORDER_METHOD}`;

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * order-store's HTTP server: the express app, except that `POST /neworder` goes straight to its
 * handler, which reads its own body (json-body.ts). Express gives every request and response a new
 * prototype and walks its router before any handler runs, and express.json() parses in a middleware
 * chain; on the route that carries every order that was about half of order-store's CPU per order
 * (proving-ground/bench/README.md, "Why `POST /neworder` skips express"). Express still routes the
 * rarer spellings (a query string, a trailing slash) to the same handler.
 */
export function createOrderStoreServer(dependencies: AppDependencies): Server {
  const metrics = dependencies.metrics ?? storeMetrics();
  const newOrder = newOrderHandler({ ...dependencies, metrics });
  const app = createApp(dependencies, newOrder);
  return createServer((req, res) => {
    if (req.method === 'POST' && req.url === NEW_ORDER_PATH) newOrder(req, res);
    else if (req.method === 'GET' && req.url === METRICS_PATH && dependencies.config.METRICS_PORT === undefined) void serveMetrics(metrics.registry, req, res);
    else app(req, res);
  });
}

const tracer = trace.getTracer('order-store');

/**
 * Reads, validates and accepts one order; answers every outcome itself, errors included. Each
 * request is a span, a child of the one its caller (the store's sidecar) sent in traceparent;
 * a refused order (any 4xx) or a failure (5xx) is an error span with its status.
 */
function newOrderHandler({ book, config, logger, metrics }: AppDependencies & { metrics: StoreMetrics }): NodeHandler {
  const authorize = credentialCheck(config);
  const onUnexpected = unexpectedErrorLogger(logger);
  const acceptOrder = async (req: IncomingMessage, res: ServerResponse): Promise<AcceptOutcome> => {
    authorize(req);
    const request = trace.getActiveSpan();
    const order = await tracer.startActiveSpan('validate order', async (span) => {
      try {
        const body = await readJsonBody(req, res, { limitBytes: config.BODY_LIMIT_BYTES, timeoutMs: config.BODY_TIMEOUT_MS });
        const parsed = newOrderBody.safeParse(body);
        if (!parsed.success) {
          const details = parsed.error.issues.map((issue) => ({
            path: issue.path.map(String).join('.'),
            message: issue.message,
          }));
          const orderId = claimedOrderId(body);
          // A refused order is found by its id too, when it has a readable one.
          if (orderId) request?.setAttribute('order.id', orderId);
          logger.info({ orderId, details }, 'order rejected');
          throw new HttpError(400, 'invalid_order', 'the order is not valid', details);
        }
        return parsed.data.data;
      } catch (error) {
        if (error instanceof HttpError) failSpan(span, error.status, error.code);
        throw error;
      } finally {
        span.end();
      }
    });
    request?.setAttribute('order.id', order.orderId);
    const resend = isResend(req.headers[ATTEMPT_HEADER]);
    const outcome = await book.accept(order, { resend }).catch(asUnavailable);
    logger.info({ orderId: order.orderId, outcome }, `order ${outcome}`);
    if (outcome === 'conflict') {
      throw new HttpError(409, 'order_conflict', `order ${order.orderId} was already accepted with different content`);
    }
    sendJson(res, outcome === 'created' ? 201 : 200, { orderId: order.orderId } satisfies NewOrderAnswer);
    return outcome;
  };
  return (req, res) => {
    const started = performance.now();
    const span = tracer.startSpan(`POST ${NEW_ORDER_PATH}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST' } }, contextFromHeaders(req.headers));
    void context.with(trace.setSpan(context.active(), span), () =>
      acceptOrder(req, res).then(
        (outcome) => {
          span.setAttribute('http.response.status_code', res.statusCode).setAttribute('order.outcome', outcome);
          metrics.answered(outcome, res.statusCode, (performance.now() - started) / 1000);
        },
        (error: unknown) => {
          answerError(res, error, onUnexpected);
          const code = error instanceof HttpError ? error.code : 'internal';
          failSpan(span, res.statusCode, code);
          metrics.answered(code === 'order_conflict' ? 'conflict' : 'rejected', res.statusCode, (performance.now() - started) / 1000, code);
        },
      ).finally(() => span.end()),
    );
  };
}

function createApp({ book, ping, config, logger }: AppDependencies, newOrder: NodeHandler): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const authorize = credentialCheck(config);
  const readAccess: RequestHandler = (req, _res, next) => {
    if (config.PROTECT_READS) authorize(req);
    next();
  };

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await ping();
      res.json({ status: 'ready' });
    } catch (error) {
      logger.warn({ err: error }, 'not ready');
      sendError(res, unavailable('the sidecar or the state store does not answer'));
    }
  });

  app.post(NEW_ORDER_PATH, (req, res) => newOrder(req, res));

  app.get('/order', readAccess, async (_req, res) => {
    const latest = await book.latest().catch(asUnavailable);
    if (!latest) throw new HttpError(404, 'no_orders', 'no order has been accepted yet');
    res.json(orderIdFirst(latest));
  });

  app.get('/orders/:orderId', readAccess, async (req, res) => {
    const orderId = String(req.params.orderId);
    if (!ORDER_ID_PATTERN.test(orderId)) {
      throw new HttpError(400, 'invalid_order_id', 'expected 1 to 64 letters, digits or -_.:');
    }
    const order = await book.get(orderId).catch(asUnavailable);
    if (!order) throw new HttpError(404, 'order_not_found', `order ${orderId} does not exist`);
    res.json(orderIdFirst(order));
  });

  app.use((req, _res, next) => next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(unexpectedErrorLogger(logger)));
  return app;
}

function unexpectedErrorLogger(logger: Logger): (error: unknown) => void {
  return (error) => logger.error({ err: error }, 'request failed');
}

/** The state store hands fields back in its own order; people read the id first. */
function orderIdFirst({ orderId, ...rest }: StoredOrder): StoredOrder {
  return { orderId, ...rest };
}

/**
 * Writes need a credential when a write token is configured: the bearer token for callers from
 * outside, or Dapr's app API token, which the store's own sidecar adds to every call it forwards.
 * Without a write token, writes from outside are open by choice (`-c writeToken=false` on EKS), so
 * the app API token alone guards nothing and is not asked for.
 */
function credentialCheck({ WRITE_TOKEN, APP_API_TOKEN }: RoutesConfig): (req: IncomingMessage) => void {
  if (!WRITE_TOKEN) return () => {};
  return (req) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const viaSidecar = req.headers['dapr-api-token'];
    if (matches(bearer, WRITE_TOKEN) || matches(typeof viaSidecar === 'string' ? viaSidecar : undefined, APP_API_TOKEN)) return;
    throw new HttpError(401, 'unauthorized', 'a valid bearer token is required', [], {
      'WWW-Authenticate': 'Bearer realm="order-store"',
    });
  };
}

function matches(given: string | undefined, expected: string | undefined): boolean {
  if (!given || !expected) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function unavailable(message: string): HttpError {
  return new HttpError(503, 'state_unavailable', message, [], { 'Retry-After': RETRY_AFTER_SECONDS });
}

function asUnavailable(error: unknown): never {
  if (error instanceof StateUnavailableError) {
    throw unavailable('the state store is unavailable; retry later');
  }
  throw error;
}

/** The order id a rejected body claims, when it is one we can safely put in a log line. */
function claimedOrderId(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('data' in body)) return undefined;
  const data = body.data;
  if (typeof data !== 'object' || data === null || !('orderId' in data)) return undefined;
  const id = String(data.orderId);
  return ORDER_ID_PATTERN.test(id) ? id : undefined;
}
