import { appendFileSync } from 'node:fs';
import { Writable } from 'node:stream';

/** One pino line as the apps write it; only the fields the chaos runs read. */
export interface LogLine {
  /** Milliseconds since the epoch, from the line's ISO `time`. */
  time: number;
  msg: string;
  orderId?: string;
  status?: number;
  raw: Record<string, unknown>;
}

/**
 * Keeps every JSON line a process prints, for the whole run: the harness keeps only its last
 * lines, and the chaos verdicts and the tests that count log lines need all of them. Pass it as the process's `echo` stream; chunks
 * may end mid-line, so a partial line waits for the rest. With `file`, every chunk is also
 * appended there as it comes, as the evidence for a run.
 */
export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  /** Lines that were not JSON (a stack trace, a warning from Node). */
  readonly other: string[] = [];
  private partial = '';

  constructor(private readonly file?: string) {
    super();
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (this.file) appendFileSync(this.file, text);
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const part of parts) this.take(part);
    done();
  }

  /** Lines whose msg is exactly this. */
  withMsg(msg: string): LogLine[] {
    return this.lines.filter((line) => line.msg === msg);
  }

  private take(text: string): void {
    const trimmed = text.trim();
    if (!trimmed) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      this.other.push(trimmed);
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) {
      this.other.push(trimmed);
      return;
    }
    const raw = parsed as Record<string, unknown>;
    const time = typeof raw.time === 'string' ? Date.parse(raw.time) : typeof raw.time === 'number' ? raw.time : Number.NaN;
    const line: LogLine = { time, msg: typeof raw.msg === 'string' ? raw.msg : '', raw };
    if (typeof raw.orderId === 'string') line.orderId = raw.orderId;
    if (typeof raw.status === 'number') line.status = raw.status;
    this.lines.push(line);
  }
}
