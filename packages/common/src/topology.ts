import topologyJson from '../topology.json';

/** App ids, ports and Dapr resource names: defined once, in topology.json. */
export interface Topology {
  daprVersion: string;
  daprCliVersion: string;
  namespace: string;
  orderStore: { appId: string; port: number };
  orderGenerator: { appId: string; port: number };
  stateStore: string;
  daprConfiguration: string;
  resiliency: string;
  newOrderMethod: string;
}

export const topology: Topology = topologyJson;
