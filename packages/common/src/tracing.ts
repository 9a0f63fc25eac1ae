import { type Context, type Span, SpanStatusCode, context, propagation } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-node';
import { z } from 'zod';
import { setting } from './settings';
import { topology } from './topology';

/**
 * The apps' tracing settings. OTEL_EXPORTER_OTLP_ENDPOINT is the OpenTelemetry SDKs' own name for
 * where OTLP goes (the base URL; traces go to <it>/v1/traces); unset, spans are still made (their
 * ids are in every log line) but sent nowhere.
 */
export const tracingSettings = {
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL, e.g. http://127.0.0.1:4318' }).optional(),
  /** Share of new traces kept, as Dapr's samplingRate: by default the local one, every trace (deploy/ sets its own; topology.json). */
  TRACE_SAMPLING_RATE: setting.number(Number(topology.tracing.samplingRate.local), 0, 1),
};

export interface TracingOptions {
  serviceName: string;
  otlpEndpoint?: string | undefined;
  samplingRate: number;
}

export interface Tracing {
  /** Sends what is still buffered; for a clean shutdown. */
  shutdown(): Promise<void>;
}

/** How long an exit waits for the last spans to go out. */
const SHUTDOWN_WAIT_MS = 2_000;

/** How long finished spans wait before they go out together; short enough that a trace shows up while one looks for it. */
const EXPORT_EVERY_MS = 500;

/**
 * Registers the OpenTelemetry SDK for this process: W3C trace context as the propagator (what Dapr
 * reads and writes), AsyncLocalStorage as the context manager (so the active span follows an
 * order through awaits and into its log lines), and parent-based sampling with Dapr's rule
 * (dapr/pkg/diagnostics/tracing_sampler.go at v1.18.2), so that a trace the caller kept is kept
 * here too. Nothing is instrumented automatically: the apps make the spans that mean something.
 */
export function startTracing(options: TracingOptions): Tracing {
  const spanProcessors = options.otlpEndpoint
    ? [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }), {
          scheduledDelayMillis: EXPORT_EVERY_MS,
          // Under load spans beyond the queue are dropped rather than held: memory stays bounded.
          maxQueueSize: 4096,
          maxExportBatchSize: 1024,
        }),
      ]
    : [];
  const provider = new NodeTracerProvider({
    // The SDK's default resource adds telemetry.sdk.language=nodejs: Dapr reports its spans under
    // the same service name (the app id), and that attribute is what tells the app's from its sidecar's.
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': options.serviceName })),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.samplingRate) }),
    spanProcessors,
  });
  provider.register();
  return {
    // An unreachable collector must not hold up an exit: what it has not taken by then is lost.
    shutdown: () => Promise.race([provider.shutdown(), new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref())]),
  };
}

/** The active trace context as W3C headers (traceparent, tracestate), for a call to the sidecar. */
export function traceHeaders(headers: Record<string, string> = {}): Record<string, string> {
  propagation.inject(context.active(), headers);
  return headers;
}

/** The context a caller sent in W3C headers, or the active one when it sent none. */
export function contextFromHeaders(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers);
}

/** Marks the span failed with an HTTP status, the way OpenTelemetry's HTTP conventions do. */
export function failSpan(span: Span, status: number | undefined, message: string): void {
  if (status !== undefined) span.setAttribute('http.response.status_code', status);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}
