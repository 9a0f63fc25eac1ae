import { type Server, type Socket, connect, createServer } from 'node:net';

export interface RoundRobinProxy {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP load balancer on loopback for local runs: each new connection goes to the next target,
 * as an NLB spreads connections over order-store's pods. A target that refuses is skipped for
 * that connection, so a replica that is restarting does not fail a client.
 */
export async function startRoundRobinProxy(port: number, targets: number[]): Promise<RoundRobinProxy> {
  let next = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const forward = (client: Socket, attemptsLeft: number) => {
    const target = targets[next++ % targets.length]!;
    const upstream = connect({ host: '127.0.0.1', port: target });
    track(upstream);
    let connected = false;
    client.once('close', () => upstream.destroy());
    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream).pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      if (!connected && attemptsLeft > 1) forward(client, attemptsLeft - 1);
      else client.destroy();
    });
  };
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    track(client);
    client.on('error', () => client.destroy());
    forward(client, targets.length);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
