import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat's utime and stime; 100 on every Linux we run on. */
const CLK_TCK = 100;

export interface Watched {
  name: string;
  pid: number;
}

/** Resident memory in bytes now (VmRSS) and at its peak (VmHWM), or undefined once the process is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** User plus system CPU time the process has used, in milliseconds. */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may contain spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/**
 * Context switches of all the process's threads so far, voluntary (it waited: for a socket, a
 * lock, a timer) and not. On two cores each one is a wake-up that costs more than the work it
 * wakes for, which CPU time alone does not show. Threads that have exited are no longer counted.
 */
export function contextSwitchesOf(pid: number): number | undefined {
  try {
    let total = 0;
    for (const thread of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${thread}/status`, 'utf8');
      for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(match[1]);
    }
    return total;
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0), so that a peak belongs to one measurement. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    // Not permitted or not Linux: the sampled maximum still stands.
    return false;
  }
}

export interface ProcessUsage {
  name: string;
  /** Highest resident memory seen, in MB: sampled VmRSS and VmHWM since the sampler started. */
  peakRssMb: number;
  /** CPU used while the sampler ran, in milliseconds. */
  cpuMs: number;
  /** Context switches while the sampler ran, counted like cpuMs. */
  contextSwitches: number;
}

/**
 * Watches processes while a measurement runs: resets their peaks, samples VmRSS every intervalMs,
 * and reports each one's peak memory and the CPU it used between start and stop.
 */
export class UsageSampler {
  private readonly peak = new Map<number, number>();
  private readonly cpuAtStart = new Map<number, number>();
  private readonly switchesAtStart = new Map<number, number>();
  /** Processes whose VmHWM was reset, so that it covers this measurement only. */
  private readonly peakReset = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly watched: Watched[],
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    for (const { pid } of this.watched) {
      if (resetPeak(pid)) this.peakReset.add(pid);
      this.peak.set(pid, 0);
    }
    this.restartCounters();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  /** Counts CPU and context switches from now on: what was used before (a probe run, say) is left out. */
  restartCounters(): void {
    for (const { pid } of this.watched) {
      this.cpuAtStart.set(pid, cpuMsOf(pid) ?? 0);
      this.switchesAtStart.set(pid, contextSwitchesOf(pid) ?? 0);
    }
  }

  stop(): ProcessUsage[] {
    clearInterval(this.timer);
    this.sample();
    return this.watched.map(({ name, pid }) => {
      const cpu = cpuMsOf(pid);
      const switches = contextSwitchesOf(pid);
      return {
        name,
        peakRssMb: round((this.peak.get(pid) ?? 0) / 2 ** 20, 1),
        cpuMs: cpu === undefined ? 0 : Math.round(cpu - (this.cpuAtStart.get(pid) ?? 0)),
        contextSwitches: switches === undefined ? 0 : switches - (this.switchesAtStart.get(pid) ?? 0),
      };
    });
  }

  private sample(): void {
    for (const { pid } of this.watched) {
      const memory = memoryOf(pid);
      if (!memory) continue;
      const hwm = this.peakReset.has(pid) && !Number.isNaN(memory.hwm) ? memory.hwm : 0;
      this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, memory.rss, hwm));
    }
  }
}

export function round(value: number, digits = 0): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
