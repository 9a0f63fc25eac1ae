import type { Topology } from '@orders/common';
import topologyJson from '@orders/common/topology.json';

/**
 * App ids, ports, the namespace, Dapr resource names and the Dapr version, from the one file that
 * defines them. Read as JSON rather than through `@orders/common`'s index so that `cdk synth`
 * needs neither a build of that package nor its runtime dependencies.
 */
export const topology: Topology = topologyJson;
