import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { AppBuild } from '../harness/apps';
import { repoRoot } from '../harness/daprd';

const run = promisify(execFile);

/** Another commit of this repository, unpacked and built, to run its apps beside this checkout's. */
export interface Checkout {
  /** The ref as given, e.g. `main` or `816d46d`. */
  ref: string;
  /** The commit it names, abbreviated. */
  commit: string;
  root: string;
  /** How its node_modules came about: linked to this checkout's, or installed on its own. */
  nodeModules: 'shared' | 'installed';
  remove(): void;
}

/**
 * Unpacks `ref` into a temporary directory (`git archive`: nothing is registered in the
 * repository, so an interrupted run leaves no worktree behind), gives it node_modules and, for a
 * `dist` build, builds it with its own `npm run build`.
 */
export async function checkOut(ref: string, build: AppBuild, log: (line: string) => void): Promise<Checkout> {
  const git = (...args: string[]) => run('git', args, { cwd: repoRoot, timeout: 60_000, maxBuffer: 64 * 2 ** 20 });
  const commit = (await git('rev-parse', '--verify', '--short', `${ref}^{commit}`)).stdout.trim();
  const root = mkdtempSync(join(tmpdir(), `orders-baseline-${commit}-`));
  const remove = () => rmSync(root, { recursive: true, force: true });
  try {
    const tarball = join(root, '.source.tar');
    await git('archive', '--format=tar', '-o', tarball, commit);
    await run('tar', ['-xf', tarball, '-C', root], { timeout: 60_000 });
    rmSync(tarball);
    const shared = sameInstalledPackages(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8'), readFileSync(join(root, 'package-lock.json'), 'utf8'));
    if (shared) {
      linkNodeModules(repoRoot, root);
    } else {
      log(`  ${ref} (${commit}) locks other packages: npm install in its checkout`);
      await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, timeout: 900_000, maxBuffer: 64 * 2 ** 20 });
    }
    if (build === 'dist') {
      log(`  building ${ref} (${commit}): npm run build`);
      await run('npm', ['run', '--silent', 'build'], { cwd: root, timeout: 300_000 });
    }
    return { ref, commit, root, nodeModules: shared ? 'shared' : 'installed', remove };
  } catch (error) {
    remove();
    throw error;
  }
}

interface Lockfile {
  packages?: Record<string, { version?: string; integrity?: string; link?: boolean; resolved?: string }>;
}

/**
 * True when two package-lock.json files install the same packages at the same places and
 * versions: what differs then (which workspace declares a package, its dev flag) changes nothing
 * in node_modules, and one checkout's can serve the other.
 */
export function sameInstalledPackages(lockA: string, lockB: string): boolean {
  const installed = (text: string) => {
    const { packages = {} } = JSON.parse(text) as Lockfile;
    return Object.entries(packages)
      .filter(([path]) => path.includes('node_modules/'))
      .map(([path, entry]) => `${path} ${entry.link ? `-> ${entry.resolved ?? ''}` : `${entry.version ?? ''} ${entry.integrity ?? ''}`}`)
      .sort()
      .join('\n');
  };
  return installed(lockA) === installed(lockB);
}

/**
 * Gives `to` a node_modules of its own whose entries link to `from`'s, except the workspaces'
 * links (node_modules/@orders/common -> ../../packages/common...), which are made again inside
 * `to`: linking them too would run `to`'s apps on `from`'s packages/common.
 */
export function linkNodeModules(from: string, to: string): void {
  const link = (dir: string) => {
    const source = join(from, dir);
    const target = join(to, dir);
    mkdirSync(target, { recursive: true });
    for (const name of readdirSync(source)) {
      const entry = join(source, name);
      if (linksInside(from, entry) && !dir.endsWith('.bin')) {
        symlinkSync(readlinkSync(entry), join(target, name));
      } else if (name.startsWith('@') && lstatSync(entry).isDirectory() && containsWorkspaceLink(from, entry)) {
        link(join(dir, name));
      } else {
        symlinkSync(entry, join(target, name));
      }
    }
  };
  link('node_modules');
  // A workspace's own node_modules (packages it needs at another version) holds no workspace link.
  for (const workspace of ['apps', 'packages', 'infra']) {
    if (!existsSync(join(from, workspace))) continue;
    for (const name of readdirSync(join(from, workspace))) {
      const nested = join(workspace, name, 'node_modules');
      if (existsSync(join(from, nested)) && existsSync(join(to, workspace, name)) && !existsSync(join(to, nested))) {
        symlinkSync(join(from, nested), join(to, nested));
      }
    }
  }
}

/** A scope directory holding a link into the repository (a workspace), rather than only installed packages. */
function containsWorkspaceLink(root: string, scopeDir: string): boolean {
  return readdirSync(scopeDir).some((name) => linksInside(root, join(scopeDir, name)));
}

/** `entry` is a relative symbolic link to somewhere inside `root`: a workspace's, not an installed package. */
function linksInside(root: string, entry: string): boolean {
  if (!lstatSync(entry).isSymbolicLink()) return false;
  const pointsTo = readlinkSync(entry);
  return !isAbsolute(pointsTo) && !relative(root, resolve(dirname(entry), pointsTo)).startsWith('..');
}
