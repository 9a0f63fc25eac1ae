import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * One JSON object per line on stdout, the shape log collectors (CloudWatch, Loki) index as-is.
 * Events about an order carry `orderId` as a field, never only inside the message.
 */
export function createLogger(app: string, level = 'info'): Logger {
  return pino(
    {
      level,
      base: { app },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Lines logged while a write is under way go out together in the next one, rather than one
    // blocking write each: under load that halved what logging every order cost order-store
    // (README, Performance). pino writes what is left synchronously when the process exits.
    pino.destination({ dest: 1, sync: false }),
  );
}
