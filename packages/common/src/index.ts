export { topology, type Topology } from './topology';
export { createLogger } from './logger';
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
export { contextFromHeaders, failSpan, startTracing, traceHeaders, tracingSettings, type Tracing } from './tracing';
export { LATENCY_BUCKETS, METRICS_PATH, createRegistry, recentQuantiles, serveMetrics, createMetricsServer } from './metrics';
