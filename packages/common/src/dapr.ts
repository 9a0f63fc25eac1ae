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
