// A client behind the load balancer, run by Node (type stripping, so no imports but node:) inside
// the node's network namespace: it posts orders to order-store's NodePort, the NLB's stand-in, on
// keep-alive connections as an HTTP client behind an NLB keeps them, and counts every answer and
// every failed connection. On SIGTERM it prints one JSON line and exits.
//
//   node load-balancer-client.ts <base url> <write token> <orders a second> <id prefix>
import { Agent, request } from 'node:http';

const [url, token, rate, prefix] = process.argv.slice(2);
if (!url || !token || !rate || !prefix) {
  process.stderr.write('usage: load-balancer-client.ts <base url> <write token> <orders a second> <id prefix>\n');
  process.exit(2);
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
const statuses: Record<string, number> = {};
/** Connection failures by code (ECONNRESET, EPIPE, ECONNREFUSED, ...): each is a client that saw an error. */
const failures: Record<string, number> = {};
/** Ids answered 201 or 200: the suite checks each is stored. */
const accepted: string[] = [];
let sent = 0;
let inFlight = 0;

function post(orderId: string): Promise<void> {
  const body = JSON.stringify({ data: { orderId, items: [{ sku: 'rye-bread', quantity: 1, unitPrice: 3.2 }], total: 3.2 } });
  return new Promise((resolve) => {
    const req = request(`${url}/neworder`, {
      method: 'POST',
      agent,
      timeout: 10_000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 200 || status === 201) accepted.push(orderId);
        resolve();
      });
      res.on('error', (error: NodeJS.ErrnoException) => fail(error, resolve));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in 10 s'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => fail(error, resolve));
    req.end(body);
  });
}

function fail(error: NodeJS.ErrnoException, resolve: () => void): void {
  const code = error.code ?? error.message;
  failures[code] = (failures[code] ?? 0) + 1;
  resolve();
}

const timer = setInterval(() => {
  sent += 1;
  inFlight += 1;
  void post(`${prefix}-${sent}`).finally(() => {
    inFlight -= 1;
  });
}, 1_000 / Number(rate));

process.on('SIGTERM', () => {
  clearInterval(timer);
  const finish = () => {
    process.stdout.write(`${JSON.stringify({ sent, statuses, failures, accepted })}\n`);
    process.exit(0);
  };
  const wait = setInterval(() => {
    if (inFlight === 0) {
      clearInterval(wait);
      finish();
    }
  }, 20);
  setTimeout(finish, 12_000).unref();
});
