export { topology, type Topology } from './topology';
export { createLogger, type Logger } from './logger';
export { listenOrExit } from './listen';
export { parseSettings, setting, sidecarSettings, metricsSettings, SettingsError, exitOnSettingsError } from './settings';
export {
  DaprHttpError,
  DaprSidecar,
  DaprUnreachableError,
  type CallOptions,
  type SidecarAddress,
  type SidecarResponse,
  type StateEntry,
  type StateItem,
} from './dapr';
export {
  SpanKind,
  SpanStatusCode,
  context,
  contextFromHeaders,
  failSpan,
  startTracing,
  trace,
  traceHeaders,
  tracingSettings,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracing,
} from './tracing';
export { Counter, Gauge, Histogram, LATENCY_BUCKETS, METRICS_PATH, Registry, createRegistry, recentQuantiles, serveMetrics, createMetricsServer } from './metrics';
