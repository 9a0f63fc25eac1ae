import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '@orders/common';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { HttpError, errorHandler, sendError } from './http-errors';
import { ORDER_ID_PATTERN, type StoredOrder, newOrderBody } from './order';
import type { OrderBook } from './orders';
import { StateUnavailableError } from './state';

export interface RoutesConfig {
  BODY_LIMIT_BYTES: number;
  BODY_TIMEOUT_MS: number;
  WRITE_TOKEN?: string | undefined;
  APP_API_TOKEN?: string | undefined;
  PROTECT_READS: boolean;
}

export interface AppDependencies {
  book: OrderBook;
  ping: () => Promise<void>;
  config: RoutesConfig;
  logger: Logger;
}

/** Sent by order-generator on every attempt after the first; it makes the store look before writing. */
export const ATTEMPT_HEADER = 'x-order-attempt';

const RETRY_AFTER_SECONDS = '2';

export function createApp({ book, ping, config, logger }: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const authorized = requireCredentials(config);
  const readAccess: RequestHandler = config.PROTECT_READS ? authorized : (_req, _res, next) => next();

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

  app.post(
    '/neworder',
    authorized,
    requireJsonContentType,
    bodyDeadline(config.BODY_TIMEOUT_MS),
    express.json({ limit: config.BODY_LIMIT_BYTES, strict: true, type: () => true }),
    async (req, res) => {
      const parsed = newOrderBody.safeParse(req.body);
      if (!parsed.success) {
        const details = parsed.error.issues.map((issue) => ({
          path: issue.path.map(String).join('.'),
          message: issue.message,
        }));
        logger.info({ orderId: claimedOrderId(req.body), details }, 'order rejected');
        throw new HttpError(400, 'invalid_order', 'the order is not valid', details);
      }
      const order = parsed.data.data;
      const resend = Number(req.get(ATTEMPT_HEADER) ?? '1') > 1;
      const outcome = await book.accept(order, { resend }).catch(asUnavailable);
      logger.info({ orderId: order.orderId, outcome }, `order ${outcome}`);
      if (outcome === 'conflict') {
        throw new HttpError(409, 'order_conflict', `order ${order.orderId} was already accepted with different content`);
      }
      res.status(outcome === 'created' ? 201 : 200).json({ orderId: order.orderId });
    },
  );

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
  app.use(errorHandler(config.BODY_LIMIT_BYTES, (error) => logger.error({ err: error }, 'request failed')));
  return app;
}

/** The state store hands fields back in its own order; people read the id first. */
function orderIdFirst({ orderId, ...rest }: StoredOrder): StoredOrder {
  return { orderId, ...rest };
}

/** Answers 408 (as JSON, unlike Node's own request timeout) and drops the socket when a body stalls. */
function bodyDeadline(timeoutMs: number): RequestHandler {
  return (req, res, next) => {
    if (req.complete) return next();
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      res.set('Connection', 'close');
      sendError(res, new HttpError(408, 'body_timeout', `the request body did not arrive within ${timeoutMs}ms`));
      res.on('finish', () => req.destroy());
    }, timeoutMs);
    req.on('end', () => clearTimeout(timer));
    res.on('close', () => clearTimeout(timer));
    next();
  };
}

function requireJsonContentType(req: Request, _res: Response, next: NextFunction): void {
  if (req.is(['application/json', 'application/*+json'])) return next();
  next(new HttpError(415, 'unsupported_media_type', 'the request body must be application/json'));
}

/**
 * Writes need a credential as soon as one is configured: the bearer token for callers from
 * outside, or Dapr's app API token, which the store's own sidecar adds to every call it forwards.
 */
function requireCredentials({ WRITE_TOKEN, APP_API_TOKEN }: RoutesConfig): RequestHandler {
  if (!WRITE_TOKEN && !APP_API_TOKEN) return (_req, _res, next) => next();
  return (req, _res, next) => {
    const bearer = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    const viaSidecar = req.get('dapr-api-token');
    if (matches(bearer, WRITE_TOKEN) || matches(viaSidecar, APP_API_TOKEN)) return next();
    next(
      new HttpError(401, 'unauthorized', 'a valid bearer token is required', [], {
        'WWW-Authenticate': 'Bearer realm="order-store"',
      }),
    );
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
