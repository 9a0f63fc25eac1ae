import { spawn } from 'node:child_process';
import { join } from 'node:path';

const fixture = join(__dirname, 'fixtures', 'log-lines.ts');

/** Runs the fixture and collects the JSON lines it writes to stdout. */
function runFixture(ending: 'exit' | 'throw' | 'stay', count: number) {
  const child = spawn(process.execPath, ['--conditions=development', '--import=tsx', fixture, ending, String(count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<{ line: number; app: string; level: string }> = [];
  let pending = '';
  let lineArrived = () => {};
  const firstLine = new Promise<void>((resolve) => (lineArrived = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) lines.push(JSON.parse(part) as { line: number; app: string; level: string });
    if (lines.length > 0) lineArrived();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited, firstLine };
}

describe('createLogger', () => {
  test('every line is written before process.exit() ends the process', async () => {
    const run = runFixture('exit', 500);
    expect(await run.exited).toBe(3);
    // Every line, though not always in order: a batch still being written asynchronously when exit's
    // synchronous flush runs can land after the lines that flush writes (seen under load).
    expect(run.lines.map((l) => l.line).sort((a, b) => a - b)).toEqual([...Array(500).keys()]);
    expect(run.lines.every((l) => l.app === 'log-lines' && l.level === 'info')).toBe(true);
  });

  test('every line is written when the process dies of an uncaught exception', async () => {
    const run = runFixture('throw', 50);
    expect(await run.exited).not.toBe(0);
    expect(run.lines).toHaveLength(50);
  });

  test("a quiet app's line is written while it runs, not held until it exits", async () => {
    const run = runFixture('stay', 1);
    try {
      // A batch of one line never fills: only the periodic flush can write it. The deadline is
      // generous (the flush comes within a tenth of a second) and keeps a failure from hanging.
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        deadline = setTimeout(() => reject(new Error('no line within 10 s of logging it')), 10_000);
      });
      await Promise.race([run.firstLine, timedOut]).finally(() => clearTimeout(deadline));
      expect(run.lines).toEqual([expect.objectContaining({ line: 0 })]);
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  }, 20_000);
});
