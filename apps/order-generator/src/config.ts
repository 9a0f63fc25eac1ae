import { metricsSettings, parseSettings, setting, sidecarSettings, topology, tracingSettings } from '@orders/common';
import { ORDER_STORE_APP_ID } from '@orders/contract';

/** Every setting is an environment variable with a default; see the README's table. */
export const generatorSettings = {
  /** Serves GET /healthz and /readyz for Kubernetes probes; the generator takes no other inbound traffic. */
  PORT: setting.port(topology.orderGenerator.port),
  ...metricsSettings,
  ...sidecarSettings,
  ...tracingSettings,
  ORDER_STORE_APP_ID: setting.daprName(ORDER_STORE_APP_ID),
  ORDERS_PER_SECOND: setting.number(1, 0.01, 10_000),
  /** Stop generating after this many orders; 0 keeps going until stopped. */
  ORDER_LIMIT: setting.integer(0, 0, Number.MAX_SAFE_INTEGER),
  /** Orders sent at the same time. */
  MAX_IN_FLIGHT: setting.integer(32, 1, 1_024),
  /** Orders generated but not yet accepted (in flight or waiting to retry); generation pauses when full. */
  BACKLOG_LIMIT: setting.integer(1_000, 1, 1_000_000),
  RETRY_BASE_MS: setting.integer(200, 1, 60_000),
  RETRY_MAX_MS: setting.integer(10_000, 1, 600_000),
  REQUEST_TIMEOUT_MS: setting.integer(15_000, 100, 600_000),
  SHUTDOWN_GRACE_MS: setting.integer(10_000, 0, 120_000),
  LOG_LEVEL: setting.logLevel(),
};

export type GeneratorConfig = ReturnType<typeof loadGeneratorConfig>;

export function loadGeneratorConfig(env: NodeJS.ProcessEnv = process.env) {
  return parseSettings(generatorSettings, env);
}
