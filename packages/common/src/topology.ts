import topologyJson from '../topology.json';

/** App ids, ports and Dapr resource names: defined once, in topology.json. */
export interface Topology {
  daprVersion: string;
  daprCliVersion: string;
  jaegerVersion: string;
  namespace: string;
  orderStore: { appId: string; port: number };
  orderGenerator: { appId: string; port: number };
  /** Each app's METRICS_PORT in its Pod (deploy/): GET /metrics off the port a load balancer publishes. */
  appMetricsPort: number;
  stateStore: string;
  daprConfiguration: string;
  resiliency: string;
  newOrderMethod: string;
  /** Where local OTLP goes (Jaeger, `npm start`) and how many orders are traced. */
  tracing: { samplingRate: { local: string; deployed: string }; otlpHttpPort: number; jaegerQueryPort: number };
}

export const topology: Topology = topologyJson;
