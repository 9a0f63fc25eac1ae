import { type Context, type Span, SpanKind, context, trace } from '@opentelemetry/api';
import { failSpan } from '@orders/common';
import type { Logger } from 'pino';
import { type BackoffPolicy, retryDelay } from './backoff';
import type { NewOrder } from './new-order';
import type { SendOrder } from './sender';

export interface PipelineOptions {
  ordersPerSecond: number;
  /** Stop generating after this many orders; 0 for no limit. */
  orderLimit: number;
  maxInFlight: number;
  backlogLimit: number;
  backoff: BackoffPolicy;
}

export interface PipelineStats {
  generated: number;
  accepted: number;
  rejected: number;
  retries: number;
  /** Generated and not yet accepted or rejected: in flight, queued or waiting to retry. */
  backlog: number;
  inFlight: number;
}

interface Pending {
  order: NewOrder;
  attempt: number;
  /** The order's trace: one span from generation to confirmation (or drop), over every attempt. */
  span: Span;
  /** The context that span is active in: the order's log lines and attempts run inside it. */
  trace: Context;
  generatedAt: number;
}

/** What the pipeline reports as it goes, for its metrics; each is called once per event. */
export interface PipelineObserver {
  /** An order was confirmed or dropped this long after it was generated. */
  finished(outcome: 'accepted' | 'rejected', seconds: number, status?: number): void;
}

const tracer = trace.getTracer('order-generator');

/**
 * Generates orders at a steady rate and delivers each at least once: a failed attempt is retried
 * with backoff until the store accepts or rejects the order. Generation pauses while the backlog
 * is full, so a slow store slows the generator down instead of costing orders.
 */
export class OrderPipeline {
  private readonly ready: Pending[] = [];
  private readonly waitingOrders = new Map<NodeJS.Timeout, Pending>();
  private readonly inFlightOrders = new Set<Pending>();
  private readonly stats: PipelineStats = { generated: 0, accepted: 0, rejected: 0, retries: 0, backlog: 0, inFlight: 0 };
  private ticker: NodeJS.Timeout | undefined;
  private allowance = 0;
  private lastTick = 0;
  private drained: (() => void) | undefined;
  private readonly finished: Promise<void>;
  private markFinished!: () => void;

  constructor(
    private readonly send: SendOrder,
    private readonly makeOrder: () => NewOrder,
    private readonly options: PipelineOptions,
    private readonly logger: Logger,
    private readonly observer: PipelineObserver = { finished: () => {} },
  ) {
    this.finished = new Promise((resolve) => (this.markFinished = resolve));
  }

  /** Resolves once ORDER_LIMIT orders were generated and every one was accepted or rejected. */
  whenFinished(): Promise<void> {
    return this.finished;
  }

  start(): void {
    // Wake often enough for the rate, but no more than every 5ms and at least every 100ms.
    const tickMs = Math.min(100, Math.max(5, 1000 / this.options.ordersPerSecond));
    this.lastTick = performance.now();
    this.allowance = 1; // the first order goes out at once
    this.ticker = setInterval(() => this.tick(), tickMs);
    this.tick();
  }

  snapshot(): PipelineStats {
    return { ...this.stats };
  }

  /** Stops generating, keeps delivering what was generated for up to graceMs, then reports the rest. */
  async stop(graceMs: number): Promise<PipelineStats> {
    clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.stats.backlog > 0) {
      this.logger.info({ backlog: this.stats.backlog }, 'delivering the backlog before stopping');
      await Promise.race([
        new Promise<void>((resolve) => (this.drained = resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
      ]);
    }
    for (const timer of this.waitingOrders.keys()) clearTimeout(timer);
    const unfinished = [...this.inFlightOrders, ...this.waitingOrders.values(), ...this.ready];
    for (const { order, attempt, span, trace: orderTrace } of unfinished) {
      context.with(orderTrace, () => this.logger.warn({ orderId: order.orderId, attempt }, 'order not confirmed before shutdown'));
      failSpan(span, undefined, 'not confirmed before shutdown');
      span.end();
    }
    return this.snapshot();
  }

  private tick(): void {
    const now = performance.now();
    const burst = Math.max(1, this.options.ordersPerSecond * 0.1);
    this.allowance = Math.min(burst, this.allowance + ((now - this.lastTick) / 1000) * this.options.ordersPerSecond);
    this.lastTick = now;
    const { orderLimit, backlogLimit } = this.options;
    while (this.allowance >= 1 && this.stats.backlog < backlogLimit) {
      if (orderLimit > 0 && this.stats.generated >= orderLimit) {
        clearInterval(this.ticker);
        break;
      }
      this.allowance -= 1;
      this.stats.generated += 1;
      this.stats.backlog += 1;
      this.ready.push(this.traced(this.makeOrder()));
    }
    this.pump();
  }

  /** A new order with its own trace: a root span, whatever was active when the ticker ran. */
  private traced(order: NewOrder): Pending {
    const span = tracer.startSpan('order', { root: true, kind: SpanKind.PRODUCER, attributes: { 'order.id': order.orderId } });
    return { order, attempt: 1, span, trace: trace.setSpan(context.active(), span), generatedAt: performance.now() };
  }

  private pump(): void {
    while (this.stats.inFlight < this.options.maxInFlight && this.ready.length > 0) {
      const pending = this.ready.shift()!;
      this.stats.inFlight += 1;
      this.inFlightOrders.add(pending);
      // The attempt's span is the parent the invocation carries (traceparent) to the sidecars.
      const attemptSpan = tracer.startSpan(
        'send order',
        { kind: SpanKind.CLIENT, attributes: { 'order.id': pending.order.orderId, 'order.attempt': pending.attempt } },
        pending.trace,
      );
      const started = performance.now();
      void context.with(trace.setSpan(pending.trace, attemptSpan), () => this.send(pending.order, pending.attempt)).then((delivery) =>
        context.with(pending.trace, () => {
          this.stats.inFlight -= 1;
          this.inFlightOrders.delete(pending);
          const { orderId } = pending.order;
          const attempt = pending.attempt;
          switch (delivery.kind) {
            case 'accepted':
              attemptSpan.end();
              this.finish(pending, 'accepted');
              this.logger.info({ orderId, attempt, ms: Math.round(performance.now() - started) }, 'order accepted');
              break;
            case 'rejected':
              failSpan(attemptSpan, delivery.status, delivery.reason);
              attemptSpan.end();
              failSpan(pending.span, delivery.status, `rejected: ${delivery.reason}`);
              this.finish(pending, 'rejected', delivery.status);
              this.logger.error({ orderId, attempt, status: delivery.status, reason: delivery.reason }, 'order rejected; dropped');
              break;
            case 'retry':
              failSpan(attemptSpan, delivery.status, delivery.reason);
              attemptSpan.end();
              this.retryLater(pending, delivery.reason, delivery.status);
              break;
          }
          this.pump();
        }),
      );
    }
  }

  private retryLater(pending: Pending, reason: string, status: number | undefined): void {
    this.stats.retries += 1;
    const delayMs = retryDelay(pending.attempt, this.options.backoff);
    this.logger.warn({ orderId: pending.order.orderId, attempt: pending.attempt, status, reason, retryInMs: delayMs }, 'order not confirmed; will retry');
    const next = { ...pending, attempt: pending.attempt + 1 };
    const timer = setTimeout(() => {
      this.waitingOrders.delete(timer);
      // Older orders go first: a retry jumps ahead of orders generated since.
      this.ready.unshift(next);
      this.pump();
    }, delayMs);
    this.waitingOrders.set(timer, next);
  }

  private finish(pending: Pending, outcome: 'accepted' | 'rejected', status?: number): void {
    pending.span.setAttribute('order.attempts', pending.attempt);
    pending.span.end();
    this.observer.finished(outcome, (performance.now() - pending.generatedAt) / 1000, status);
    this.stats[outcome] += 1;
    this.stats.backlog -= 1;
    if (this.stats.backlog > 0) return;
    this.drained?.();
    const { orderLimit } = this.options;
    if (orderLimit > 0 && this.stats.generated >= orderLimit) this.markFinished();
  }
}
