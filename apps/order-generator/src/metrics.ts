import { LATENCY_BUCKETS, createRegistry, recentQuantiles } from '@orders/common';
import { ORDER_GENERATOR_APP_ID } from '@orders/contract';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { OrderPipeline, PipelineObserver, PipelineStats } from './pipeline';

export interface GeneratorMetrics {
  registry: Registry;
  observer: PipelineObserver;
  /** Reads the pipeline's counters at each scrape, so /metrics and /stats never disagree. */
  watch(pipeline: Pick<OrderPipeline, 'snapshot'>): void;
}

/**
 * order-generator's Prometheus metrics (GET /metrics on its HTTP port). The counts are the
 * pipeline's own (PipelineStats), read at each scrape; end-to-end latency is observed as orders
 * finish: from generation to the store's answer, retries and backoff included.
 */
export function generatorMetrics(): GeneratorMetrics {
  const registry = createRegistry(ORDER_GENERATOR_APP_ID);
  let stats: () => PipelineStats = () => ({ generated: 0, accepted: 0, rejected: 0, retries: 0, backlog: 0, inFlight: 0 });
  const fromStats = (name: string, help: string, read: (s: PipelineStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(stats()));
      },
    });
  const gauge = (name: string, help: string, read: (s: PipelineStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(stats()));
      },
    });
  fromStats('order_generator_orders_generated_total', 'Orders generated.', (s) => s.generated);
  fromStats('order_generator_orders_confirmed_total', 'Orders the store accepted (201 or 200).', (s) => s.accepted);
  fromStats('order_generator_orders_dropped_total', 'Orders the store refused with a 4xx; not sent again.', (s) => s.rejected);
  fromStats('order_generator_retries_total', 'Attempts that failed with a network error, a timeout or a 5xx, and were retried.', (s) => s.retries);
  gauge('order_generator_in_flight', 'Orders being sent right now.', (s) => s.inFlight);
  gauge('order_generator_backlog', 'Orders generated and not yet confirmed or dropped: in flight, queued or waiting to retry.', (s) => s.backlog);
  const orderSeconds = new Histogram({
    name: 'order_generator_order_duration_seconds',
    help: 'From an order generated to the store confirming or refusing it, retries included.',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const recentOrderSeconds = recentQuantiles(registry, 'order_generator_order_latency_seconds', 'From an order generated to the store confirming it, retries included.');
  return {
    registry,
    observer: {
      finished: (outcome, seconds) => {
        orderSeconds.observe({ outcome }, seconds);
        if (outcome === 'accepted') recentOrderSeconds.observe(seconds);
      },
    },
    watch: (pipeline) => {
      stats = () => pipeline.snapshot();
    },
  };
}
