/**
 * Where `npm start`, the bench and the suites find the Dapr CLI, daprd, sentry and Jaeger: one
 * directory, <runtime path>/.dapr/bin, laid out as the Dapr CLI expects, so that
 * `DAPR_RUNTIME_PATH=<runtime path> dapr run -f .` starts that daprd (dapr/cli v1.16.5,
 * pkg/standalone/common.go, GetDaprRuntimePath: --runtime-path, else DAPR_RUNTIME_PATH, else
 * ~/.dapr; with -f only the variable counts, cmd/run.go passes the flag to single-app runs only).
 *
 * Each binary in it is either the project's own build (dev/dapr-binaries.sh, stamped with its
 * version in .<name>.version) or a link to a Dapr install already on this machine that reports
 * the pinned version. A user's install at another version is never touched.
 *
 * Run as a script (dev/dapr-binaries.sh does), it links what it finds, then prints the runtime
 * path, the pinned versions and the names still to build, one a line.
 */
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { topology } from '@orders/common';

const run = promisify(execFile);

/** The project's own cache (as ~/.cache/orders-kube and ~/.cache/orders-node are); ORDERS_DAPR_HOME moves it. */
export const daprRuntimePath = process.env.ORDERS_DAPR_HOME ?? join(homedir(), '.cache', 'orders-dapr');
export const daprBin = join(daprRuntimePath, '.dapr', 'bin');

export type DaprBinaryName = 'dapr' | 'daprd' | 'sentry' | 'jaeger';

/** The version each binary must report (packages/common/topology.json). */
export const pinnedVersions: Record<DaprBinaryName, string> = {
  dapr: topology.daprCliVersion,
  daprd: topology.daprVersion,
  sentry: topology.daprVersion,
  jaeger: topology.jaegerVersion,
};

export function daprBinary(name: DaprBinaryName): string {
  const path = join(daprBin, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run dev/dapr-binaries.sh (npm start and npm test run it for you)`);
  }
  return path;
}

/** The version a Dapr binary reports, or undefined when it reports none (or is not one). */
export async function reportedVersion(name: Exclude<DaprBinaryName, 'jaeger'>, path: string): Promise<string | undefined> {
  const output = async (args: string[]) => {
    try {
      const { stdout, stderr } = await run(path, args, { timeout: 10_000 });
      return stdout + stderr;
    } catch (error) {
      // Sentry's probe below ends in a failure on purpose; what it printed first still counts.
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      return stdout + stderr;
    }
  };
  switch (name) {
    case 'daprd':
      return /^(\d+\.\d+\.\d+\S*)\s*$/.exec(await output(['--version']))?.[1];
    case 'dapr':
      return /^CLI version: (\S+)/m.exec(await output(['--version']))?.[1];
    case 'sentry':
      // Sentry has no --version flag. It logs its version as it starts, then exits at once on a
      // configuration file that does not exist, before it opens a port.
      return /-- version (\S+) --/.exec(await output(['--config', join(daprBin, '.no-such-config.yaml')]))?.[1];
  }
}

/** Where the Dapr CLI's installer and `dapr init` put each binary, in the order they are tried. */
export function installCandidates(name: Exclude<DaprBinaryName, 'jaeger'>, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [
    // The CLI's installer (install.sh) puts the CLI in $DAPR_INSTALL_DIR, /usr/local/bin by default.
    ...(env.DAPR_INSTALL_DIR ? [env.DAPR_INSTALL_DIR] : []),
    // `dapr init` puts daprd where the CLI looks for it.
    ...(env.DAPR_RUNTIME_PATH ? [join(env.DAPR_RUNTIME_PATH, '.dapr', 'bin')] : []),
    join(env.HOME ?? homedir(), '.dapr', 'bin'),
    ...(env.PATH ?? '').split(delimiter).filter(Boolean),
  ];
  return [...new Set(dirs.map((dir) => join(dir, name)))].filter((path) => !path.startsWith(daprBin + '/'));
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The project's own build of this binary at the pinned version (dev/go-build.sh stamps each). */
function builtHere(name: DaprBinaryName): boolean {
  const path = join(daprBin, name);
  if (!existsSync(path) || isLink(path)) return false;
  try {
    return readFileSync(join(daprBin, `.${name}.version`), 'utf8').trim() === pinnedVersions[name];
  } catch {
    return false;
  }
}

export interface Resolution {
  /** Binaries linked from an install at the pinned version: name to the path linked. */
  linked: Partial<Record<DaprBinaryName, string>>;
  /** Binaries neither built here nor installed at the pinned version: dev/dapr-binaries.sh builds them. */
  toBuild: DaprBinaryName[];
}

/**
 * Makes daprBin hold every binary it can without building: each one built here stays; a link
 * whose target no longer reports the pinned version goes; an install that reports it is linked.
 */
export async function resolveDaprBinaries(env: NodeJS.ProcessEnv = process.env): Promise<Resolution> {
  mkdirSync(daprBin, { recursive: true });
  const resolution: Resolution = { linked: {}, toBuild: [] };
  for (const name of ['dapr', 'daprd', 'sentry', 'jaeger'] as const) {
    if (builtHere(name)) continue;
    const path = join(daprBin, name);
    if (name === 'jaeger') {
      resolution.toBuild.push(name);
      continue;
    }
    if (isLink(path)) {
      if ((await reportedVersion(name, path)) === pinnedVersions[name]) continue;
      rmSync(path);
    }
    let found: string | undefined;
    for (const candidate of installCandidates(name, env)) {
      if (existsSync(candidate) && (await reportedVersion(name, candidate)) === pinnedVersions[name]) {
        found = candidate;
        break;
      }
    }
    if (found) {
      rmSync(path, { force: true });
      symlinkSync(found, path);
      resolution.linked[name] = found;
    } else {
      resolution.toBuild.push(name);
    }
  }
  return resolution;
}

if (require.main === module) {
  resolveDaprBinaries()
    .then(({ linked, toBuild }) => {
      for (const [name, path] of Object.entries(linked)) {
        process.stderr.write(`[bootstrap-dapr] using ${name} ${pinnedVersions[name as DaprBinaryName]} installed at ${path}\n`);
      }
      process.stdout.write([daprRuntimePath, pinnedVersions.dapr, pinnedVersions.daprd, pinnedVersions.jaeger, ...toBuild].join('\n') + '\n');
    })
    .catch((error: unknown) => {
      process.stderr.write(`[bootstrap-dapr] ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
