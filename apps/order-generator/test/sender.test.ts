import { classify } from '../src/sender';

const answer = (status: number) => ({ status, body: `status ${status}` });

describe('classify', () => {
  test.each([200, 201, 204])('a %i means the order is stored', (status) => {
    expect(classify(answer(status))).toEqual({ kind: 'accepted' });
  });

  test.each([400, 401, 403, 404, 409, 413, 415])('a %i from the store drops the order', (status) => {
    expect(classify(answer(status))).toEqual({ kind: 'rejected', status, reason: `status ${status}` });
  });

  test.each([408, 429, 500, 502, 503, 504])('a %i is retried', (status) => {
    expect(classify(answer(status))).toMatchObject({ kind: 'retry', status });
  });

  test('a long error body is cut to 500 characters', () => {
    expect(classify({ status: 500, body: 'x'.repeat(5_000) })).toMatchObject({ reason: 'x'.repeat(500) });
  });
});
