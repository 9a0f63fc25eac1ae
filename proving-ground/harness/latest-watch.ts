import { isNewer } from '../../apps/order-store/src/acceptance-clock';

export interface Latest {
  orderId: string;
  acceptedAt: string;
}

/** One way to read the latest order; `turn` counts the reader's reads, e.g. to go round replicas. */
export type LatestReader = (turn: number) => Promise<Latest | undefined>;

/**
 * Reads the latest order over and over, through each reader given (the shared pointer in Redis,
 * GET /order round the replicas, ...), each on its own, until stopped, and notes every time a
 * reader saw an older order than one it had seen before. A read that gets no answer (the part is
 * down, as in a chaos scenario) is simply tried again.
 */
export class LatestWatch {
  readonly wentBack: string[] = [];
  /** Answered reads, per reader. */
  readonly reads: Record<string, number> = {};
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(readers: Record<string, LatestReader>, everyMs = 10) {
    this.loops = Object.entries(readers).map(([name, read]) => this.watch(name, read, everyMs));
  }

  get totalReads(): number {
    return Object.values(this.reads).reduce((sum, count) => sum + count, 0);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async watch(name: string, read: LatestReader, everyMs: number): Promise<void> {
    this.reads[name] = 0;
    let previous: Latest | undefined;
    for (let turn = 0; this.running; turn += 1) {
      const latest = await read(turn).catch(() => undefined);
      if (latest) {
        this.reads[name] += 1;
        if (previous && isNewer(previous, latest)) {
          this.wentBack.push(`${name}: ${previous.orderId} (${previous.acceptedAt}) then ${latest.orderId} (${latest.acceptedAt})`);
        }
        if (!previous || isNewer(latest, previous)) previous = latest;
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}

/** GET /order from each of these order-store URLs in turn; undefined when there is no order yet, or no answer. */
export function latestThroughStores(urls: () => string[]): LatestReader {
  return async (turn) => {
    const all = urls();
    const res = await fetch(`${all[turn % all.length]}/order`, { signal: AbortSignal.timeout(2_000) });
    return res.status === 200 ? ((await res.json()) as Latest) : undefined;
  };
}
