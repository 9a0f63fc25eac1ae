import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/daprd';

// One Node.js for the images, `npm start` and `npm test`: the release line .nvmrc pins.
// Release dates of the LTS lines, from the Node.js Release working group's schedule
// (github.com/nodejs/Release, schedule.json): when each entered LTS and when it reaches its end of life.
const LTS_LINES: Record<number, { lts: string; end: string }> = {
  20: { lts: '2023-10-24', end: '2026-04-30' },
  22: { lts: '2024-10-29', end: '2027-04-30' },
  24: { lts: '2025-10-28', end: '2028-04-30' },
  26: { lts: '2026-10-28', end: '2029-04-30' },
};

const pinned = readFileSync(join(repoRoot, '.nvmrc'), 'utf8').trim();
const pinnedMajor = Number(pinned.split('.')[0]);
const today = new Date().toISOString().slice(0, 10);

describe('the Node.js the project runs on', () => {
  test('.nvmrc pins an exact release of the newest LTS line, which has entered LTS and is not past its end of life', () => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const line = LTS_LINES[pinnedMajor];
    expect({ pinnedMajor, isLtsLine: line !== undefined }).toEqual({ pinnedMajor, isLtsLine: true });
    expect(line!.lts <= today).toBe(true);
    expect({ pinnedMajor, endOfLife: line!.end, pastEndOfLife: line!.end <= today }).toMatchObject({ pastEndOfLife: false });
    expect(pinnedMajor).toBe(Math.max(...Object.keys(LTS_LINES).filter((major) => LTS_LINES[Number(major)]!.lts <= today).map(Number)));
  });

  test('the Dockerfile builds on that major (node:<major>-slim)', () => {
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    expect(/^ARG NODE_IMAGE=node:(\d+)-slim$/m.exec(dockerfile)?.[1]).toBe(String(pinnedMajor));
  });

  test('the tests run on it (dev/node-env.sh put it first on PATH), and package.json asks for it', () => {
    expect(process.versions.node.split('.')[0]).toBe(String(pinnedMajor));
    const engines = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines;
    expect(engines.node).toBe(`>=${pinnedMajor}`);
  });
});
