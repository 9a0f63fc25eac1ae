import { retryDelay } from '../src/backoff';

const policy = { baseMs: 100, maxMs: 2_000 };

describe('retryDelay', () => {
  test('the ceiling doubles with each attempt up to the cap', () => {
    const ceiling = (attempt: number) => retryDelay(attempt, policy, () => 0.999_999);
    expect([1, 2, 3, 4, 5, 6, 20].map(ceiling)).toEqual([99, 199, 399, 799, 1599, 1999, 1999]);
  });

  test('the delay is drawn over the whole window (full jitter)', () => {
    expect(retryDelay(4, policy, () => 0)).toBe(0);
    expect(retryDelay(4, policy, () => 0.5)).toBe(400);
  });

  test('a huge attempt count stays at the cap instead of overflowing', () => {
    expect(retryDelay(10_000, policy, () => 0.5)).toBe(1_000);
  });
});
