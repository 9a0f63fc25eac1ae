import type { DaprSidecar } from '@orders/common';

/**
 * GET /readyz: the generator is Ready only while its sidecar is (Dapr's /v1.0/healthz/outbound),
 * since every order goes through it. A Pod that started without a sidecar (admitted while the
 * injector was away) then stays unready instead of looking healthy while it sends nothing, and the
 * injector watchdog replaces it (dapr-helm-values.ts). Liveness and Dapr's app health check stay on
 * /healthz: a sidecar outage is no reason to restart the app, and daprd must not wait on itself.
 */
export async function readiness(sidecar: Pick<DaprSidecar, 'isReady'>): Promise<{ status: 200 | 503; body: Record<string, unknown> }> {
  if (await sidecar.isReady()) return { status: 200, body: { status: 'ready' } };
  return { status: 503, body: { error: { code: 'sidecar_not_ready', message: 'the Dapr sidecar is not ready', details: [] } } };
}
