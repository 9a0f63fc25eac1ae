import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * One JSON object per line on stdout, the shape log collectors (CloudWatch, Loki) index as-is.
 * Events about an order carry `orderId` as a field, never only inside the message.
 */
export function createLogger(app: string, level = 'info'): Logger {
  return pino({
    level,
    base: { app },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
