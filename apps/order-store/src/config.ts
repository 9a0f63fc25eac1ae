import { metricsSettings, parseSettings, setting, sidecarSettings, topology, tracingSettings } from '@orders/common';
import { z } from 'zod';

const secret = z.string().min(16, 'expected at least 16 characters').optional();

/** Every setting is an environment variable with a default; see the README's table. */
export const storeSettings = {
  PORT: setting.port(topology.orderStore.port),
  ...metricsSettings,
  ...sidecarSettings,
  ...tracingSettings,
  STATESTORE_NAME: setting.daprName(topology.stateStore),
  BODY_LIMIT_BYTES: setting.integer(16_384, 256, 1_048_576),
  /** A request body not received in full by then is answered 408: slow senders cannot hold sockets. */
  BODY_TIMEOUT_MS: setting.integer(10_000, 100, 120_000),
  SHUTDOWN_GRACE_MS: setting.integer(10_000, 0, 120_000),
  LOG_LEVEL: setting.logLevel(),
  /** When set, POST /neworder from outside needs `Authorization: Bearer <WRITE_TOKEN>`. */
  WRITE_TOKEN: secret,
  /** Dapr's app API token: the sidecar sends it as `dapr-api-token` on every call it forwards. */
  APP_API_TOKEN: secret,
  /** When true, GET endpoints need the same credentials as writes. */
  PROTECT_READS: setting.boolean(false),
};

export type StoreConfig = ReturnType<typeof loadStoreConfig>;

export function loadStoreConfig(env: NodeJS.ProcessEnv = process.env) {
  return parseSettings(storeSettings, env);
}
