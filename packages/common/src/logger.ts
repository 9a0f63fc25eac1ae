import { isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';

/**
 * Lines wait until this many bytes have gathered, then go out in one write. Apps log every order,
 * and one write per line cost the order path more than a tenth of its throughput at 4 connections:
 * each write wakes a thread here and the log reader there (proving-ground/bench/README.md, "Log lines in 4 KB writes").
 */
const WRITE_AT_BYTES = 4096;
/** What is waiting goes out after this long even when the batch is not full, so a quiet app's lines are not late. */
const FLUSH_EVERY_MS = 100;

/**
 * One JSON object per line on stdout, the shape log collectors (CloudWatch, Loki) index as-is.
 * Events about an order carry `orderId` as a field, never only inside the message. `pid` tells
 * replicas apart where nothing else does: several order-store replicas on one machine
 * (`ORDER_STORE_REPLICAS`) print to one console under one app id. A line written while a span is
 * active (everything about an order) carries its `trace_id` and `span_id`, which lead to the
 * order's trace in Jaeger or X-Ray.
 */
export function createLogger(app: string, level = 'info'): Logger {
  return pino(
    {
      level,
      base: { app, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: activeTraceIds,
    },
    // pino writes what is waiting synchronously when the process exits, crash or not; only a
    // SIGKILL loses the last FLUSH_EVERY_MS of lines.
    pino.destination({ dest: 1, sync: false, minLength: WRITE_AT_BYTES, periodicFlush: FLUSH_EVERY_MS }),
  );
}

/** The active span's ids, in the field names OpenTelemetry's log data model uses; none outside a span. */
function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
