import type { Server } from 'node:http';
import type { Logger } from 'pino';

/**
 * Listens on `port`, or exits naming the setting when it cannot (the port is taken, or not
 * allowed): without this, Node ends the process on an unhandled 'error' event with a stack trace.
 */
export function listenOrExit(server: Server, port: number, logger: Logger, onListening?: () => void, settingName = 'PORT'): void {
  server.once('error', (error: NodeJS.ErrnoException) => {
    logger.fatal({ err: error, port }, `cannot listen on ${settingName}=${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`);
    process.exit(1);
  });
  server.listen(port, onListening);
}
