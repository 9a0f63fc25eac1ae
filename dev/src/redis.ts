import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Proc, freePort, startProcess, awaitReady } from './processes';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

/** True when a Redis answers PING on this port. */
export async function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', host, '-p', String(port), 'PING'], { timeout: 2_000 });
    return stdout.trim() === 'PONG';
  } catch {
    return false;
  }
}
