import { CommunicationProtocolEnum, DaprClient, LogLevel, type LoggerService } from '@dapr/dapr';
import type { Logger } from './logger';

export interface SidecarAddress {
  host: string;
  httpPort: number;
}

/**
 * A DaprClient talking HTTP to the app's own sidecar, whose SDK messages go through our JSON
 * logger instead of the SDK's console lines.
 */
export function createDaprClient(sidecar: SidecarAddress, logger: Logger): DaprClient {
  const sdkLogger = logger.child({ component: 'dapr-sdk' });
  const forward =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (message: unknown, ...params: unknown[]) =>
      sdkLogger[level]({ params: params.length ? params.map(String) : undefined }, String(message));
  const service: LoggerService = {
    error: forward('error'),
    warn: forward('warn'),
    info: forward('debug'),
    verbose: forward('debug'),
    debug: forward('debug'),
  };
  return new DaprClient({
    daprHost: sidecar.host,
    daprPort: String(sidecar.httpPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    logger: { level: LogLevel.Warn, service },
  });
}

/**
 * Resolves once the sidecar answers, however long that takes: the SDK's own start() gives up
 * after a timeout, but a sidecar can be slow to get its certificate or its components ready.
 */
export async function waitForSidecar(client: DaprClient, logger: Logger, retryMs = 1_000): Promise<void> {
  for (;;) {
    try {
      await client.start();
      return;
    } catch (error) {
      logger.warn({ err: error }, 'the Dapr sidecar is not answering yet; still waiting');
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}
