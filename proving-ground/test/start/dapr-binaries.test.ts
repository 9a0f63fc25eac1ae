import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { daprBinary, pinnedVersions } from '../../../dev/src/dapr-binaries';
import { repoRoot } from '../../harness/daprd';

// dev/dapr-binaries.sh as a user with Dapr installed runs it: an install at the pinned version is
// linked into the project's cache, one at another version is left as it is, and what is missing
// without Go stops the script before any build. The location it reports is the one the
// TypeScript side computes for the same environment.

const run = promisify(execFile);

/** A hard link (a copy across file systems) of this machine's build of a binary. */
function place(name: 'dapr' | 'daprd' | 'sentry' | 'jaeger', path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  try {
    linkSync(daprBinary(name), path);
  } catch {
    copyFileSync(daprBinary(name), path);
  }
}

describe('dev/dapr-binaries.sh', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const cacheBin = () => join(dir, 'cache', '.dapr', 'bin');
  const bootstrap = () => run('bash', ['dev/dapr-binaries.sh'], { cwd: repoRoot, env, timeout: 60_000 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'orders-dapr-binaries-'));
    // The project's own builds of the CLI and Jaeger, stamped as dev/go-build.sh stamps them.
    for (const name of ['dapr', 'jaeger'] as const) {
      place(name, join(cacheBin(), name));
      writeFileSync(join(cacheBin(), `.${name}.version`), `${pinnedVersions[name]}\n`);
    }
    // daprd at another version where `dapr init` puts it, and the pinned daprd and sentry on PATH.
    mkdirSync(join(dir, 'home', '.dapr', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'home', '.dapr', 'bin', 'daprd'), '#!/bin/sh\necho 1.17.0\n', { mode: 0o755 });
    place('daprd', join(dir, 'installed', 'daprd'));
    place('sentry', join(dir, 'installed', 'sentry'));
    // No Go: nothing may be built.
    const path = (process.env.PATH ?? '').split(delimiter).filter((entry) => !existsSync(join(entry, 'go')));
    env = { ...process.env, HOME: join(dir, 'home'), ORDERS_DAPR_HOME: join(dir, 'cache'), PATH: [join(dir, 'home', '.dapr', 'bin'), join(dir, 'installed'), ...path].join(delimiter) };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('links the install at the pinned version, leaves the other version alone, and names the place the TypeScript side uses', async () => {
    const { stderr } = await bootstrap();
    expect(stderr).toContain(`using daprd ${pinnedVersions.daprd} installed at ${join(dir, 'installed', 'daprd')}`);
    expect(stderr).toContain(`using sentry ${pinnedVersions.sentry} installed at ${join(dir, 'installed', 'sentry')}`);
    expect(stderr).not.toContain('building');
    for (const name of ['daprd', 'sentry']) expect(readlinkSync(join(cacheBin(), name))).toBe(join(dir, 'installed', name));
    expect(lstatSync(join(cacheBin(), 'dapr')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, 'home', '.dapr', 'bin', 'daprd'), 'utf8')).toBe('#!/bin/sh\necho 1.17.0\n');
    const { stdout } = await run(process.execPath, ['--conditions=development', '--import=tsx', '-e', 'process.stdout.write(require("./dev/src/dapr-binaries").daprBin)'], { cwd: repoRoot, env });
    expect(stdout).toBe(cacheBin());
    expect(stderr).toContain(`ready in ${stdout}\n`);
  });

  test('without Go, says so and what to build before building anything, when an install goes away', async () => {
    rmSync(join(dir, 'installed', 'sentry'));
    const failed = await bootstrap().then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`to build sentry into ${cacheBin()}, Go is needed`);
    expect(failed?.stderr).not.toContain('building');
    // The link to the install that went is gone with it; the one still there stays.
    expect(() => lstatSync(join(cacheBin(), 'sentry'))).toThrow();
    expect(readlinkSync(join(cacheBin(), 'daprd'))).toBe(join(dir, 'installed', 'daprd'));
  });
});
