import { Agent, type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy between order-store's sidecar and order-store, so that the store can be made slow
 * without changing it: daprd's --app-port points here, and this forwards to the app's real port.
 * In delay mode every request but the health check is held for delayMs before it is forwarded;
 * a request is still forwarded when its caller gave up in the meantime, the way a slow app still
 * finishes work nobody waits for any more. The mode a request gets is the one it arrived in.
 */
export interface DelayProxy {
  port: number;
  /** Requests held so far, over the proxy's life. */
  delayed(): number;
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export interface DelayProxyOptions {
  targetPort: number;
  targetHost?: string;
  port?: number;
  /** Paths never delayed: the liveness check daprd polls, so the app stays "healthy but slow". */
  undelayedPaths?: string[];
}

export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const host = options.targetHost ?? '127.0.0.1';
  const undelayed = new Set(options.undelayedPaths ?? ['/healthz']);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const timers = new Set<NodeJS.Timeout>();
  let delayMs = 0;
  let delayedCount = 0;

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const upstream = request(
      { host, port: options.targetPort, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        if (res.destroyed) {
          answer.resume();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (res.destroyed) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
    upstream.end(body);
  };

  const server = createServer((req, res) => {
    const holdMs = undelayed.has((req.url ?? '').split('?')[0] ?? '') ? 0 : delayMs;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (holdMs <= 0) return forward(req, res, body);
      delayedCount += 1;
      const timer = setTimeout(() => {
        timers.delete(timer);
        forward(req, res, body);
      }, holdMs);
      timers.add(timer);
    });
    // A caller that hangs up does not cancel the work.
    res.on('error', () => undefined);
  });
  // Longer than daprd's idle keep-alive, so the proxy never closes a connection daprd is reusing.
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    delayed: () => delayedCount,
    setDelay: (ms) => {
      delayMs = ms;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
