import { classify } from '../src/sender';

const sdkError = (status: number) => new Error(JSON.stringify({ error: 'x', error_msg: `status ${status}`, status }));

describe('classify', () => {
  test.each([400, 401, 403, 404, 409, 413, 415])('a %i from the store drops the order', (status) => {
    expect(classify(sdkError(status))).toEqual({ kind: 'rejected', status, reason: `status ${status}` });
  });

  test.each([408, 429, 500, 502, 503, 504])('a %i is retried', (status) => {
    expect(classify(sdkError(status))).toMatchObject({ kind: 'retry', status });
  });

  test('a network error (no HTTP answer) is retried', () => {
    expect(classify(new Error('connect ECONNREFUSED 127.0.0.1:3500'))).toEqual({
      kind: 'retry',
      reason: 'connect ECONNREFUSED 127.0.0.1:3500',
    });
  });
});
