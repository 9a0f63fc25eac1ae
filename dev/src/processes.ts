import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A child process this harness started, in its own process group so that stopping it stops its children too. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  /** The last lines the process printed, for error messages. */
  output(): string;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  kill(): Promise<number | null>;
}

const running = new Set<Proc>();

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Also write the output here as it comes, e.g. process.stdout for `npm start`. */
  echo?: NodeJS.WritableStream;
  /** Run as this user and group (the caller must be root), e.g. to show a command needs no root. */
  uid?: number;
  gid?: number;
}

export function startProcess(name: string, command: string, args: string[], options: StartOptions = {}): Proc {
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    uid: options.uid,
    gid: options.gid,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    options.echo?.write(chunk);
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let alive = true;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      alive = false;
      running.delete(proc);
      resolve(code ?? (signal ? -1 : null));
    });
    child.on('error', (error) => {
      lines.push(`failed to start ${command}: ${error.message}`);
      alive = false;
      running.delete(proc);
      resolve(null);
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const proc: Proc = {
    name,
    pid: child.pid ?? -1,
    exited,
    output: () => lines.slice(-40).join('\n'),
    isRunning: () => alive,
    async stop(graceMs = 10_000) {
      if (!alive) return exited;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      // Children that outlived their leader (a shell's, say) go with the group.
      signalGroup('SIGKILL');
      return code;
    },
    async kill() {
      signalGroup('SIGKILL');
      return exited;
    },
  };
  running.add(proc);
  return proc;
}

/** Everything this harness started and that is still running. */
export function runningProcesses(): Proc[] {
  return [...running];
}

export async function stopAll(graceMs = 10_000): Promise<void> {
  await Promise.all([...running].map((proc) => proc.stop(graceMs)));
}

/** Below the well-known services a machine may run (PostgreSQL, Redis, RabbitMQ...). */
const FIRST_PORT = 10_000;
/**
 * The lowest port outgoing connections take their local port from. A port the OS picks for
 * listen(0) comes from the same range, so a daprd connecting to Redis between our pick and its
 * own bind could take its port ("could not listen on any endpoint"); ports below it stay ours.
 */
const ephemeralLow: number = (() => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > FIRST_PORT + 1000 ? low : 32768;
  } catch {
    return 32768;
  }
})();

/** Never handed out twice by this process, even once closed: two picks of one test cannot meet. */
const portsHandedOut = new Set<number>();

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A TCP port that was free a moment ago, picked at random below the ephemeral range, so that
 * neither parallel runs nor the outgoing connections of what we start are likely to take it first.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = FIRST_PORT + Math.floor(Math.random() * (ephemeralLow - FIRST_PORT));
    if (portsHandedOut.has(port) || !(await canListen(port))) continue;
    portsHandedOut.add(port);
    return port;
  }
  throw new Error(`no free port found between ${FIRST_PORT} and ${ephemeralLow}`);
}

/** Polls until check() is true; fails naming what it waited for and, if given, what the process printed. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (proc && !proc.isRunning()) {
      throw new Error(`${proc.name} exited while waiting for ${what}:\n${proc.output()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${proc ? `:\n${proc.output()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until a process it just started is ready; if it never gets there, stops it before failing. */
export async function awaitReady(proc: Proc, what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs, proc);
  } catch (error) {
    await proc.stop(2_000);
    throw error;
  }
}

/** True when an HTTP GET answers with a 2xx status. */
export async function answers(url: string, init?: RequestInit): Promise<boolean> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.ok;
}

/** The promise's value, or 'still running' if it takes longer than ms; the timer never outlives it. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
