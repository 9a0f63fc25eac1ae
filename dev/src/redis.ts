import { accessSync, constants, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { type Proc, freePort, startProcess, awaitReady } from './processes';

/** The port `npm start` and dapr.yaml's apps use: the Redis already there, or one started from redis-server. */
export const localRedisPort = 6379;

export interface RedisServer {
  host: string;
  port: number;
  /** `host:port`, the form Dapr's redisHost takes. */
  address: string;
  proc: Proc;
  dir: string;
  stop(): Promise<void>;
}

export interface RedisOptions {
  port?: number;
  /** Append-only persistence, so that a killed and restarted server still has every write. */
  appendOnly?: boolean;
  /** Reuse a data directory, e.g. to restart a server on the data it had. */
  dir?: string;
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'orders-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push('--appendonly', options.appendOnly ? 'yes' : 'no');
  if (options.appendOnly) args.push('--appendfsync', 'always');
  const proc = startProcess(`redis:${port}`, 'redis-server', args);
  await awaitReady(proc, `redis on ${port}`, () => ping(port), 15_000);
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    proc,
    dir,
    stop: async () => {
      await proc.stop(5_000);
    },
  };
}

/** True when a Redis answers PING on this port: one RESP command over a socket, so no redis-cli is needed. */
export function ping(port: number, host = '127.0.0.1', timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    let reply = '';
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG\r\n'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

// Run as a script (dev/bootstrap.sh does, for npm start, before any build): exits naming what to
// install when npm start could have no Redis.
if (require.main === module) {
  void ping(localRedisPort).then((answered) => {
    if (answered || onPath('redis-server')) return;
    process.stderr.write(
      `[bootstrap] npm start needs Redis: none answers on 127.0.0.1:${localRedisPort} and there is no redis-server on PATH to start one.\n` +
        '[bootstrap] Install Redis (brew install redis, or sudo apt-get install redis-server) or start one on that port.\n',
    );
    process.exit(1);
  });
}
