import { createServer } from 'node:http';

/**
 * Ceiling (1): an app that answers order-store's `neworder` without doing anything, run as app id
 * order-store behind the same sidecars, so that what is left is what service invocation costs.
 * It reads and parses the body (any app has to) and answers 201 `{"orderId":...}`.
 */
const port = Number(process.env.PORT ?? 3000);

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  if (req.method !== 'POST' || req.url !== '/neworder') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let orderId: unknown;
    try {
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const data = typeof body === 'object' && body !== null && 'data' in body ? body.data : undefined;
      orderId = typeof data === 'object' && data !== null && 'orderId' in data ? data.orderId : undefined;
    } catch {
      orderId = undefined;
    }
    if (orderId === undefined) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"invalid_order"}}');
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ orderId }));
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
