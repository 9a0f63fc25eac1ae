import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DaprSidecar } from '@orders/common';
import { readiness } from '../src/readiness';

// GET /readyz through the real sidecar client, against a loopback server standing in for daprd's
// /v1.0/healthz/outbound (204 when ready, 500 while it waits for its components or certificate).
let outbound = 204;
let asked: string[] = [];
let server: Server;
let sidecar: DaprSidecar;

beforeAll(async () => {
  server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    res.writeHead(outbound).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sidecar = new DaprSidecar({ host: '127.0.0.1', httpPort: (server.address() as AddressInfo).port });
});

afterAll(async () => {
  sidecar.close();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  asked = [];
});

test('ready while the sidecar is, having asked its outbound health', async () => {
  outbound = 204;
  expect(await readiness(sidecar)).toEqual({ status: 200, body: { status: 'ready' } });
  expect(asked).toEqual(['GET /v1.0/healthz/outbound']);
});

test('503 with a JSON error while the sidecar is not ready', async () => {
  outbound = 500;
  expect(await readiness(sidecar)).toMatchObject({ status: 503, body: { error: { code: 'sidecar_not_ready' } } });
});

test('503 when no sidecar answers at all (a Pod the injector missed)', async () => {
  const absent = new DaprSidecar({ host: '127.0.0.1', httpPort: 1 });
  try {
    expect((await readiness(absent)).status).toBe(503);
  } finally {
    absent.close();
  }
});
