import { expect } from '@jest/globals';
import { type AddressInfo, connect } from 'node:net';
import type { Server } from 'node:http';
import pino from 'pino';
import { createMetricsServer } from '@orders/common';
import { storeMetrics } from '../src/metrics';
import { OrderBook } from '../src/orders';
import { type RoutesConfig, createOrderStoreServer } from '../src/routes';
import { MemoryOrderState } from './memory-state';

const open: RoutesConfig = { BODY_LIMIT_BYTES: 1024, BODY_TIMEOUT_MS: 300, PROTECT_READS: false };

async function serve(config: RoutesConfig, state = new MemoryOrderState()) {
  const server: Server = createOrderStoreServer({ book: new OrderBook(state), ping: () => state.ping(), config, logger: pino({ level: 'silent' }) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { state, url, close: () => new Promise((resolve) => server.close(resolve)) };
}

const json = { 'content-type': 'application/json' };

describe('order-store routes', () => {
  let app: Awaited<ReturnType<typeof serve>>;
  afterEach(async () => {
    await app.close();
  });

  test('201, then 200 for the same order, then 409 for other content', async () => {
    app = await serve(open);
    const post = (body: unknown) => fetch(`${app.url}/neworder`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    expect((await post({ data: { orderId: '42' } })).status).toBe(201);
    expect((await post({ data: { orderId: 42 } })).status).toBe(200);
    const conflict = await post({ data: { orderId: '42', customer: 'x' } });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { code: 'order_conflict' } });
    expect(await (await fetch(`${app.url}/order`)).json()).toMatchObject({ orderId: '42' });
  });

  test.each([
    ['malformed JSON', json, '{"data":', 400, 'malformed_json'],
    ['an invalid order', json, '{"data":{"orderId":"a/b"}}', 400, 'invalid_order'],
    ['a JSON array', json, '[1]', 400, 'invalid_order'],
    ['no content type', {}, '{"data":{"orderId":"1"}}', 415, 'unsupported_media_type'],
    ['text/plain', { 'content-type': 'text/plain' }, '{"data":{"orderId":"1"}}', 415, 'unsupported_media_type'],
    ['a Latin-1 charset', { 'content-type': 'application/json; charset=latin1' }, '{"data":{"orderId":"1"}}', 415, 'unsupported_charset'],
    ['a body over the limit', json, JSON.stringify({ data: { orderId: '1', customer: 'x'.repeat(2000) } }), 413, 'body_too_large'],
    ['a JSON string, not an object', json, '"{\\"data\\":{}}"', 400, 'malformed_json'],
    ['a gzip content encoding', { ...json, 'content-encoding': 'gzip' }, '{"data":{"orderId":"1"}}', 415, 'unsupported_encoding'],
  ])('%s: %i %s, and nothing is written', async (_name, headers, body, status, code) => {
    app = await serve(open);
    const res = await fetch(`${app.url}/neworder`, { method: 'POST', headers, body });
    expect(res.status).toBe(status);
    const answer = (await res.json()) as { error: { code: string; message: string; details: unknown[] } };
    expect(answer.error).toEqual({ code, message: expect.any(String), details: expect.any(Array) });
    expect(app.state.writes).toBe(0);
  });

  test('JSON under a vendor media type or an explicit UTF-8 charset is read; an empty body is an invalid order', async () => {
    app = await serve(open);
    const post = (headers: Record<string, string>, body: string) => fetch(`${app.url}/neworder`, { method: 'POST', headers, body });
    expect((await post({ 'content-type': 'application/vnd.orders+json' }, '{"data":{"orderId":"1"}}')).status).toBe(201);
    expect((await post({ 'content-type': 'Application/JSON; Charset="UTF-8"' }, '{"data":{"orderId":"2"}}')).status).toBe(201);
    const empty = await post(json, '');
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ error: { code: 'invalid_order' } });
    expect(app.state.orders.size).toBe(2);
  });

  test('POST /neworder spelt with a query string or a trailing slash reaches the same handler through express', async () => {
    app = await serve(open);
    const post = (path: string, body: string) => fetch(`${app.url}${path}`, { method: 'POST', headers: json, body });
    expect((await post('/neworder?source=lb', '{"data":{"orderId":"1"}}')).status).toBe(201);
    expect((await post('/neworder/', '{"data":{"orderId":"1"}}')).status).toBe(200);
    const invalid = await post('/neworder?source=lb', '{"data":{"orderId":"a/b"}}');
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: 'invalid_order', details: [{ path: 'data.orderId' }] } });
    expect(app.state.orders.size).toBe(1);
    expect((await fetch(`${app.url}/neworder`)).status).toBe(404);
  });

  test('GET /order before any order, an unknown order and an unknown route are JSON 404s', async () => {
    app = await serve(open);
    for (const path of ['/order', '/orders/nope', '/nowhere']) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: expect.any(String) } });
    }
  });

  test('a failing state store is a 503 with Retry-After, and not ready', async () => {
    app = await serve(open);
    app.state.failing = true;
    const res = await fetch(`${app.url}/neworder`, { method: 'POST', headers: json, body: '{"data":{"orderId":"1"}}' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  test('with tokens configured, writes need the bearer token or the app API token; reads stay open', async () => {
    app = await serve({ ...open, WRITE_TOKEN: 'w'.repeat(32), APP_API_TOKEN: 'a'.repeat(32) });
    const post = (headers: Record<string, string>, orderId: string) =>
      fetch(`${app.url}/neworder`, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify({ data: { orderId } }) });
    const denied = await post({}, '1');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await post({ authorization: `Bearer ${'x'.repeat(32)}` }, '1')).status).toBe(401);
    expect((await post({ authorization: `Bearer ${'w'.repeat(32)}` }, '1')).status).toBe(201);
    expect((await post({ 'dapr-api-token': 'a'.repeat(32) }, '2')).status).toBe(201);
    expect((await post({ 'dapr-api-token': 'w'.repeat(32) }, '3')).status).toBe(401);
    expect(app.state.orders.size).toBe(2);
    expect((await fetch(`${app.url}/order`)).status).toBe(200);
  });

  test('without a write token, writes from outside need no credential even with the app API token set (writeToken=false)', async () => {
    app = await serve({ ...open, APP_API_TOKEN: 'a'.repeat(32) });
    const res = await fetch(`${app.url}/neworder`, { method: 'POST', headers: json, body: JSON.stringify({ data: { orderId: 'open-1' } }) });
    expect(res.status).toBe(201);
    expect(app.state.orders.size).toBe(1);
  });

  test('with METRICS_PORT, the app port (behind the load balancer) does not serve /metrics; the metrics server does', async () => {
    app = await serve({ ...open, METRICS_PORT: 9464 });
    expect((await fetch(`${app.url}/metrics`)).status).toBe(404);
    const metricsServer = createMetricsServer(storeMetrics().registry);
    await new Promise<void>((resolve) => metricsServer.listen(0, '127.0.0.1', resolve));
    const metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}`;
    try {
      const scraped = await fetch(`${metricsUrl}/metrics`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain('order_store_orders_total');
      expect((await fetch(`${metricsUrl}/neworder`, { method: 'POST', headers: json, body: '{}' })).status).toBe(404);
    } finally {
      await new Promise((resolve) => metricsServer.close(resolve));
    }
    await app.close();
    app = await serve(open);
    expect((await fetch(`${app.url}/metrics`)).status).toBe(200);
  });

  test('PROTECT_READS puts reads behind the same credentials', async () => {
    app = await serve({ ...open, WRITE_TOKEN: 'w'.repeat(32), PROTECT_READS: true });
    expect((await fetch(`${app.url}/order`)).status).toBe(401);
    expect((await fetch(`${app.url}/order`, { headers: { authorization: `Bearer ${'w'.repeat(32)}` } })).status).toBe(404);
  });

  test('a body that stalls is answered 408 with a JSON error, and nothing is written', async () => {
    app = await serve(open);
    const { port } = new URL(app.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /neworder HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"data":');
      });
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'body_timeout' } });
    expect(app.state.writes).toBe(0);
  });
});
