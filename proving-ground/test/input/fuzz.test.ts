import { connect } from 'node:net';
import fc from 'fast-check';
import Redis from 'ioredis';
import { runningProcesses } from '../../../dev/src/processes';
import { type OrderSystem, startOrderSystem } from '../../harness/order-system';

/** A request that order-store must refuse, and the statuses that are a correct refusal. */
interface BadRequest {
  kind: string;
  contentType: string | undefined;
  body: string;
  expected: number[];
}

const BODY_LIMIT = 16_384;
const json = 'application/json';
const fuzzId = fc.stringMatching(/^fz[a-z0-9]{6,20}$/);
const validOrder = fuzzId.map((orderId) => ({ data: { orderId } }));

/** The generators below only produce bodies that must be refused: each is one class of bad input. */
const badRequest: fc.Arbitrary<BadRequest> = fc.oneof(
  // Truncated JSON: a valid body cut short.
  fc.tuple(validOrder, fc.nat()).map(([order, cut]) => {
    const text = JSON.stringify(order);
    return { kind: 'truncated', contentType: json, body: text.slice(0, cut % text.length), expected: [400] };
  }),
  // Arbitrary non-JSON text.
  fc.string({ minLength: 1, maxLength: 200 }).filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  }).map((body) => ({ kind: 'malformed', contentType: json, body, expected: [400] })),
  // Wrong types for the id, or for data itself.
  fc.tuple(fuzzId, fc.oneof(fc.boolean(), fc.constant(null), fc.double(), fc.array(fc.nat()), fc.object())).map(([id, value]) => ({
    kind: 'wrong-type',
    contentType: json,
    body: JSON.stringify(id.length % 2 ? { data: { orderId: value } } : { data: value }),
    expected: [400],
  })),
  // Huge strings and numbers.
  fc.oneof(
    fc.string({ minLength: 65, maxLength: 4000 }).map((orderId) => JSON.stringify({ data: { orderId } })),
    fc.constantFrom('1e308', '-1', '1.5', '9007199254740993', '-0.5', '1e400').map((n) => `{"data":{"orderId":${n}}}`),
    fc.tuple(fuzzId, fc.constantFrom('1e308', '-3', '0', '10001')).map(([id, q]) => `{"data":{"orderId":"${id}","items":[{"sku":"s","quantity":${q},"unitPrice":1}]}}`),
  ).map((body) => ({ kind: 'huge', contentType: json, body, expected: [400] })),
  // Deep nesting inside the order.
  fc.tuple(fuzzId, fc.integer({ min: 2, max: 4000 })).map(([id, depth]) => ({
    kind: 'deep',
    contentType: json,
    body: `{"data":{"orderId":"${id}","items":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
    expected: [400],
  })),
  // Prototype keys.
  fc.tuple(fuzzId, fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.boolean()).map(([id, key, top]) => ({
    kind: 'proto-key',
    contentType: json,
    body: top ? `{"data":{"orderId":"${id}"},"${key}":{"admin":true}}` : `{"data":{"orderId":"${id}","${key}":{"admin":true}}}`,
    expected: [400],
  })),
  // Unicode the store refuses: control characters and lone surrogates, in the id or the customer.
  fc.tuple(fuzzId, fc.constantFrom('\\u0000', '\\u0007', '\\u001b', '\\u007f', '\\ud800', '\\udfff', 'é', '😀', '\\u202e')).map(([id, bad]) => ({
    kind: 'unicode',
    contentType: json,
    body: bad.startsWith('\\u00') || bad.startsWith('\\ud') ? `{"data":{"orderId":"${id}","customer":"a${bad}b"}}` : `{"data":{"orderId":"${id}${bad}"}}`,
    expected: [400],
  })),
  // Unknown fields.
  fc.tuple(fuzzId, fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !['orderId', 'customer', 'items', 'total'].includes(k))).map(([id, key]) => ({
    kind: 'unknown-field',
    contentType: json,
    body: JSON.stringify({ data: { orderId: id, [key]: 1 } }),
    expected: [400],
  })),
  // A valid order under a missing or wrong content type.
  fc.tuple(validOrder, fc.constantFrom(undefined, 'text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1')).map(([order, contentType]) => ({
    kind: 'content-type',
    contentType,
    body: JSON.stringify(order),
    expected: [415],
  })),
  // Bodies over the limit.
  fc.tuple(fuzzId, fc.integer({ min: BODY_LIMIT, max: 200_000 })).map(([id, size]) => ({
    kind: 'too-large',
    contentType: json,
    body: JSON.stringify({ data: { orderId: id, customer: 'x'.repeat(size) } }),
    expected: [413],
  })),
);

const REQUESTS = 10_000;
const CONCURRENCY = 16;

describe('order-store refuses every bad body with a JSON 4xx, writes nothing for it and keeps serving', () => {
  let system: OrderSystem;
  let redis: Redis;

  beforeAll(async () => {
    system = await startOrderSystem({ storeEnv: { LOG_LEVEL: 'error', BODY_TIMEOUT_MS: '500' } });
    redis = new Redis(system.redis.port, '127.0.0.1');
  });

  afterAll(async () => {
    redis?.disconnect();
    await system?.stop();
    expect(runningProcesses()).toEqual([]);
  });

  const post = (contentType: string | undefined, body: string) =>
    fetch(`${system.store.url}/neworder`, {
      method: 'POST',
      headers: contentType ? { 'content-type': contentType } : {},
      body,
    });

  test(`${REQUESTS} generated bad requests, with valid orders between them`, async () => {
    const requests = fc.sample(badRequest, { numRuns: REQUESTS, seed: 20261123 });
    const failures: string[] = [];
    const kinds = new Map<string, number>();
    const validIds: string[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < requests.length; i = next++) {
        const request = requests[i]!;
        kinds.set(request.kind, (kinds.get(request.kind) ?? 0) + 1);
        const res = await post(request.contentType, request.body);
        const text = await res.text();
        let code: unknown;
        try {
          code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
        } catch {
          code = undefined;
        }
        if (!request.expected.includes(res.status) || typeof code !== 'string') {
          failures.push(`${request.kind} ${res.status} ${text.slice(0, 120)} <- ${request.body.slice(0, 120)}`);
        }
        // Every hundredth request is followed by a valid order from the same worker.
        if (i % 100 === 0) {
          const orderId = `valid-${i}`;
          const valid = await post(json, JSON.stringify({ data: { orderId } }));
          if (valid.status !== 201) failures.push(`valid order ${orderId} got ${valid.status}`);
          else validIds.push(orderId);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));

    expect(failures.slice(0, 20)).toEqual([]);
    expect(validIds.length).toBe(REQUESTS / 100);
    // Every class was exercised.
    expect([...kinds.keys()].sort()).toEqual(
      ['content-type', 'deep', 'huge', 'malformed', 'proto-key', 'too-large', 'truncated', 'unicode', 'unknown-field', 'wrong-type'].sort(),
    );
    // Redis holds the valid orders and the latest pointer, and no key for any refused body.
    const keys = (await redis.keys('*')).sort();
    expect(keys).toEqual(['order-store||latest-order', ...validIds.map((id) => `order-store||order:${id}`)].sort());
  });

  test('slow partial bodies are cut off with a JSON 408, and valid orders still go through meanwhile', async () => {
    const slow = (id: number) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(system.store.port, '127.0.0.1', () => {
          socket.write(`POST /neworder HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"data":{"orderId":"slow-${id}"`);
          // A byte now and then, never the whole body.
          const drip = setInterval(() => socket.write(' '), 100);
          socket.on('close', () => clearInterval(drip));
        });
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString()));
        socket.on('close', () => resolve(received));
        // The server closes right after its 408 while this client is still dripping bytes, so a
        // reset may follow the answer; an error before any answer fails the test.
        socket.on('error', (error) => (received ? resolve(received) : reject(error)));
      });
    const slowOnes = Promise.all(Array.from({ length: 20 }, (_, i) => slow(i)));
    const meanwhile = await post(json, JSON.stringify({ data: { orderId: 'during-slow-bodies' } }));
    expect(meanwhile.status).toBe(201);
    for (const answer of await slowOnes) {
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(answer).toContain('"body_timeout"');
    }
    expect(await redis.keys('order-store||order:slow-*')).toEqual([]);
  });
});
