import { classify } from '../src/sender';

const ID = '01a2522b-808e-714a-993e-3b56ebe15666';
const answer = (status: number) => ({ status, body: `status ${status}` });

describe('classify', () => {
  test.each([200, 201])('a %i naming the order means the order is stored', (status) => {
    expect(classify({ status, body: JSON.stringify({ orderId: ID }) }, ID)).toEqual({ kind: 'accepted' });
  });

  test.each([
    ['an empty body', ''],
    ['another order', JSON.stringify({ orderId: 'someone-else' })],
    ['no order id', JSON.stringify({ status: 'ok' })],
    ['not JSON', 'OK'],
  ])('a 2xx with %s confirms nothing and is retried', (_what, body) => {
    expect(classify({ status: 200, body }, ID)).toMatchObject({ kind: 'retry', status: 200, reason: expect.stringContaining('does not name the order') as unknown });
  });

  test.each([400, 401, 403, 404, 409, 413, 415])('a %i from the store drops the order', (status) => {
    expect(classify(answer(status), ID)).toEqual({ kind: 'rejected', status, reason: `status ${status}` });
  });

  test.each([408, 429, 500, 502, 503, 504])('a %i is retried', (status) => {
    expect(classify(answer(status), ID)).toMatchObject({ kind: 'retry', status });
  });

  test('a long error body is cut to 500 characters', () => {
    expect(classify({ status: 500, body: 'x'.repeat(5_000) }, ID)).toMatchObject({ reason: 'x'.repeat(500) });
  });
});
