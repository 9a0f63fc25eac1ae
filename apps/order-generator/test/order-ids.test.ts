import { newOrderId } from '../src/order-ids';

describe('newOrderId', () => {
  test('is a UUIDv7 that order-store accepts as an order id', () => {
    const id = newOrderId();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(id).toMatch(/^[A-Za-z0-9\-_.:]{1,64}$/);
  });

  test('carries its creation time, so ids sort by when they were made', () => {
    const earlier = newOrderId(Date.parse('2026-01-01T00:00:00Z'));
    const later = newOrderId(Date.parse('2026-01-01T00:00:00.001Z'));
    expect(earlier < later).toBe(true);
    expect(parseInt(later.replace(/-/g, '').slice(0, 12), 16)).toBe(Date.parse('2026-01-01T00:00:00.001Z'));
  });

  test('100,000 ids made in the same millisecond are all different', () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 100_000 }, () => newOrderId(now)));
    expect(ids.size).toBe(100_000);
  });
});
