import type { StoredOrder } from './order';

/**
 * Stamps each accepted order with `acceptedAt`: ISO 8601 UTC with microseconds, read from this
 * replica's wall clock but never at or before a stamp the replica has issued or seen (a hybrid
 * logical clock). So the stamps of one replica only go forward, even when its clock is stepped
 * back, and an order accepted after its replica has read another replica's order (through the
 * latest-order pointer) is stamped after it, whatever the two clocks say. Only orders accepted on
 * different replicas closer together than the pointer takes to travel are ranked by the clocks
 * themselves, wrong by at most the clocks' offset (proving-ground/chaos/README.md, "How orders are stored").
 */
export class AcceptanceClock {
  private lastMicros = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  /** A stamp later than every stamp issued or observed so far. */
  next(): string {
    this.lastMicros = Math.max(Math.floor(this.nowMs() * 1000), this.lastMicros + 1);
    return formatMicros(this.lastMicros);
  }

  /** Takes note of a stamp seen elsewhere, so that the next one issued here comes after it. */
  observe(stamp: string): void {
    this.lastMicros = Math.max(this.lastMicros, stampMicros(stamp));
  }
}

/**
 * True when `a` ranks after `b`: a later stamp, or the same stamp and a greater id (two replicas
 * can issue the same microsecond; any fixed tie-break keeps the order total).
 */
export function isNewer(a: StoredOrder, b: StoredOrder): boolean {
  const delta = stampMicros(a.acceptedAt) - stampMicros(b.acceptedAt);
  return delta > 0 || (delta === 0 && a.orderId > b.orderId);
}

function formatMicros(micros: number): string {
  const millis = Math.floor(micros / 1000);
  return `${new Date(millis).toISOString().slice(0, -1)}${String(micros - millis * 1000).padStart(3, '0')}Z`;
}

/** Microseconds since the epoch; also reads stamps with milliseconds only, as older releases wrote them. */
function stampMicros(stamp: string): number {
  const fraction = /\.(\d+)Z$/.exec(stamp)?.[1] ?? '';
  const extraMicros = fraction.length > 3 ? Number(fraction.slice(3, 6).padEnd(3, '0')) : 0;
  return Date.parse(stamp) * 1000 + extraMicros;
}
