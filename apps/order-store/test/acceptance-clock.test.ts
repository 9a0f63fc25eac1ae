import { AcceptanceClock, isNewer } from '../src/acceptance-clock';

describe('AcceptanceClock', () => {
  test('stamps are ISO 8601 with microseconds, from the wall clock', () => {
    const clock = new AcceptanceClock(() => Date.parse('2026-01-01T00:00:01.234Z'));
    expect(clock.next()).toBe('2026-01-01T00:00:01.234000Z');
  });

  test('stamps only go forward, also within a millisecond and when the wall clock steps back', () => {
    let now = Date.parse('2026-01-01T00:00:01.000Z');
    const clock = new AcceptanceClock(() => now);
    const first = clock.next();
    const second = clock.next();
    now -= 5_000;
    const third = clock.next();
    expect([first, second, third]).toEqual(['2026-01-01T00:00:01.000000Z', '2026-01-01T00:00:01.000001Z', '2026-01-01T00:00:01.000002Z']);
  });

  test('a stamp observed from elsewhere comes before the next one issued here', () => {
    const clock = new AcceptanceClock(() => Date.parse('2026-01-01T00:00:00Z'));
    clock.observe('2026-01-01T00:00:09.999999Z');
    expect(clock.next()).toBe('2026-01-01T00:00:10.000000Z');
    clock.observe('2026-01-01T00:00:01Z');
    expect(clock.next()).toBe('2026-01-01T00:00:10.000001Z');
  });
});

describe('isNewer', () => {
  const order = (orderId: string, acceptedAt: string) => ({ orderId, acceptedAt });

  test('ranks by stamp, then by id, and reads the millisecond stamps of older releases', () => {
    expect(isNewer(order('a', '2026-01-01T00:00:01.000001Z'), order('b', '2026-01-01T00:00:01.000000Z'))).toBe(true);
    expect(isNewer(order('b', '2026-01-01T00:00:01.000000Z'), order('a', '2026-01-01T00:00:01.000001Z'))).toBe(false);
    expect(isNewer(order('b', '2026-01-01T00:00:01.000000Z'), order('a', '2026-01-01T00:00:01.000000Z'))).toBe(true);
    expect(isNewer(order('a', '2026-01-01T00:00:01.000000Z'), order('a', '2026-01-01T00:00:01.000000Z'))).toBe(false);
    expect(isNewer(order('a', '2026-01-01T00:00:01.001Z'), order('b', '2026-01-01T00:00:01.000999Z'))).toBe(true);
    expect(isNewer(order('a', '2026-01-01T00:00:01.000999Z'), order('b', '2026-01-01T00:00:01.001Z'))).toBe(false);
  });
});
