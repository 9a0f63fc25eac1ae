import { connect } from 'node:net';
import { orderBody } from '../../bench/load';
import { runningProcesses, waitFor } from '../../../dev/src/processes';
import { type OrderSystem, startOrderSystem } from '../../harness/order-system';

const GRACE_MS = 8_000;

/**
 * On SIGTERM order-store stops taking connections and finishes the requests in flight. The
 * sidecar reaches it over keep-alive connections, and Node does not end a keep-alive connection
 * whose request was in flight when the server closed: without more, that one connection held the
 * exit until the grace period was over (found on a real kubelet: the app stopped 10 s late,
 * after its sidecar had shut down).
 */
describe('order-store on SIGTERM, with a request in flight on a keep-alive connection', () => {
  let system: OrderSystem;

  beforeAll(async () => {
    system = await startOrderSystem({ storeEnv: { SHUTDOWN_GRACE_MS: String(GRACE_MS), LOG_LEVEL: 'info' } });
  });

  afterAll(async () => {
    await system?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  test('answers that request, then exits 0 at once, not at the end of its grace period', async () => {
    const { proc, port } = system.store;
    const body = orderBody('shutdown-keepalive-1');
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const head = `POST /neworder HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const half = Math.floor(body.length / 2);
    socket.write(head + body.slice(0, half));

    process.kill(proc.pid, 'SIGTERM');
    await waitFor('order-store to log that it is stopping', () => proc.output().includes('order-store stopping'), 5_000);
    socket.write(body.slice(half));
    await waitFor('the answer to the order in flight', () => /\r\n\r\n\{/.test(answer), 5_000);
    const answeredAt = Date.now();
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    // The client is told to close the connection itself, instead of the server ending it under a
    // request the client may be sending.
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);

    expect(await proc.exited).toBe(0);
    expect(Date.now() - answeredAt).toBeLessThan(GRACE_MS / 2);
    expect(proc.output()).not.toMatch(/grace period over/);
    socket.destroy();
  });
});
