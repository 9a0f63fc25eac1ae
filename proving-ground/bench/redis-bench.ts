import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RedisBenchResult {
  connections: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Ceiling (3): `redis-benchmark` SETs of the order's size against the bench's own Redis, the
 * physical floor under the state store (Dapr's Redis store runs a Lua script per write, which costs more).
 */
export async function redisBenchmark(port: number, connections: number, requests: number, payloadBytes: number): Promise<RedisBenchResult> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'set', '-c', String(connections), '-n', String(requests), '-d', String(payloadBytes), '-r', '1000000', '-q', '--csv'];
  const { stdout } = await run('redis-benchmark', args, { timeout: 300_000 });
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const lines = stdout.trim().split('\n');
  const header = (lines[0] ?? '').split(',').map((cell) => cell.replace(/"/g, ''));
  const row = (lines.find((line) => line.startsWith('"SET"')) ?? '').split(',').map((cell) => cell.replace(/"/g, ''));
  const field = (name: string) => Number(row[header.indexOf(name)]);
  const rps = field('rps');
  if (!Number.isFinite(rps)) throw new Error(`redis-benchmark printed nothing usable:\n${stdout}`);
  return { connections, requests, rps, p50Ms: field('p50_latency_ms'), p99Ms: field('p99_latency_ms') };
}
