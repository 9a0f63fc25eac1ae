import { execFile } from 'node:child_process';
import { chmodSync, closeSync, cpSync, existsSync, mkdirSync, openSync, readSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Container images made on this machine, with no registry: buildah builds them (the apps' from
 * their real Dockerfiles, the others from binaries built from Go modules) into a storage of its
 * own, and each is written out as a docker-archive for containerd to import. Nothing is pulled:
 * every `FROM` names an image made here (`--pull=never`), and every build runs with no network.
 *
 * The storage (~/.cache/orders-kube/buildah) outlives a run on purpose: buildah's layer cache
 * (`--layers`) then rebuilds only what changed, so the apps' `npm ci` runs again only when a
 * package.json or the lockfile did. It holds image layers only; no process or mount outlives a
 * build.
 */
export interface ImageBuilder {
  /** Builds a Dockerfile with buildah; the image is tagged `ref`. */
  buildDockerfile(options: DockerfileBuild): Promise<void>;
  /** An image of the given root filesystem directory, with this config. */
  fromRootfs(ref: string, rootfs: string, config: ImageConfig): Promise<void>;
  /** Whether the storage holds an image of this name. */
  exists(ref: string): Promise<boolean>;
  /** Writes the image to a docker-archive that `ctr images import` names `ref`; returns its path. */
  archive(ref: string): Promise<string>;
  /** Removes the builder's temporary files (the storage stays, see above). */
  remove(): void;
}

export interface DockerfileBuild {
  ref: string;
  dockerfile: string;
  context: string;
  buildArgs: Record<string, string>;
  /**
   * Host directories mounted into every RUN step as an overlay (`:O`): the step reads them, and
   * what it writes is thrown away with it, so a RUN's `npm cache clean --force` cannot empty
   * this machine's npm cache.
   */
  overlayVolumes?: Record<string, string>;
  /** Host files bound read-only into every RUN step. */
  readOnlyFiles?: Record<string, string>;
}

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** Numeric, so that Kubernetes' runAsNonRoot can check it. */
  user?: string;
  env?: Record<string, string>;
  workdir?: string;
}

export const buildahHome = join(process.env.ORDERS_KUBE_HOME ?? join(homedir(), '.cache', 'orders-kube'), 'buildah');

export function imageBuilder(dir: string): ImageBuilder {
  mkdirSync(dir, { recursive: true });
  const storage = [
    '--root', join(buildahHome, 'root'),
    // Run state (locks, mount bookkeeping) lives with the test, and goes with it.
    '--runroot', join(dir, 'runroot'),
    '--storage-driver', 'overlay',
  ];
  const buildah = async (args: string[], timeout = 600_000) => {
    try {
      return (await run('buildah', [...storage, ...args], { maxBuffer: 64 * 1024 * 1024, timeout })).stdout.trim();
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`buildah ${args.slice(0, 2).join(' ')} failed: ${failed.message}\n${(failed.stdout ?? '').slice(-4000)}\n${(failed.stderr ?? '').slice(-4000)}`, { cause: error });
    }
  };
  return {
    async buildDockerfile(build) {
      const volumes = [
        ...Object.entries(build.overlayVolumes ?? {}).flatMap(([host, inside]) => ['--volume', `${host}:${inside}:O`]),
        ...Object.entries(build.readOnlyFiles ?? {}).flatMap(([host, inside]) => ['--volume', `${host}:${inside}:ro`]),
      ];
      await buildah([
        'bud',
        '--pull=never',
        // No network at all: `npm ci` is served by the npm cache, or fails naming what is missing.
        '--network=none',
        '--isolation=oci',
        '--layers',
        ...Object.entries(build.buildArgs).flatMap(([name, value]) => ['--build-arg', `${name}=${value}`]),
        ...volumes,
        '--file', build.dockerfile,
        '--tag', build.ref,
        build.context,
      ]);
    },
    async fromRootfs(ref, rootfs, config) {
      const container = await buildah(['from', '--pull=never', 'scratch']);
      try {
        await buildah(['copy', container, `${rootfs}/`, '/']);
        const settings: string[] = [];
        if (config.entrypoint) settings.push('--entrypoint', JSON.stringify(config.entrypoint));
        if (config.cmd) settings.push('--cmd', JSON.stringify(config.cmd));
        if (config.user) settings.push('--user', config.user);
        if (config.workdir) settings.push('--workingdir', config.workdir);
        for (const [name, value] of Object.entries({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...config.env })) {
          settings.push('--env', `${name}=${value}`);
        }
        await buildah(['config', ...settings, container]);
        await buildah(['commit', '--rm', container, ref]);
      } catch (error) {
        await buildah(['rm', container]).catch(() => undefined);
        throw error;
      }
    },
    async exists(ref) {
      return buildah(['inspect', '--type', 'image', ref]).then(() => true, () => false);
    },
    async archive(ref) {
      const path = join(dir, 'archives', `${ref.replace(/[^A-Za-z0-9.-]+/g, '_')}.tar`);
      mkdirSync(dirname(path), { recursive: true });
      rmSync(path, { force: true });
      await buildah(['push', ref, `docker-archive:${path}:${ref}`]);
      return path;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The shared libraries a dynamically linked binary loads, as `ldd` lists them (none for a static one). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return [...stdout.matchAll(/(\/\S+\.so[.\d]*)\s/g)].map((match) => match[1] as string);
}

/**
 * A root filesystem directory: the given files at their paths (symlinks resolved, libraries
 * included for dynamically linked programs), /etc/passwd and /etc/group with the given users,
 * and a world-writable /tmp.
 */
export async function makeRootfs(
  dir: string,
  files: Record<string, string>,
  users: { name: string; uid: number; home: string }[] = [],
): Promise<string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const put = (source: string, target: string) => {
    const to = join(dir, target);
    mkdirSync(dirname(to), { recursive: true });
    cpSync(realpathSync(source), to, { recursive: true, dereference: true });
  };
  for (const [target, source] of Object.entries(files)) {
    put(source, target);
    if (!isElf(source)) continue;
    for (const library of await sharedLibraries(source)) {
      if (!existsSync(join(dir, library))) put(library, library);
    }
  }
  const all = [{ name: 'root', uid: 0, home: '/root' }, ...users];
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'etc/passwd'), all.map((u) => `${u.name}:x:${u.uid}:${u.uid}:${u.name}:${u.home}:/bin/sh`).join('\n') + '\n');
  writeFileSync(join(dir, 'etc/group'), all.map((u) => `${u.name}:x:${u.uid}:`).join('\n') + '\n');
  for (const user of all) mkdirSync(join(dir, user.home), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  return dir;
}

function isElf(path: string): boolean {
  if (!statSync(path).isFile()) return false;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    return head.toString('latin1') === '\x7fELF';
  } finally {
    closeSync(fd);
  }
}

/** busybox as /bin/sh and its other applets (sleep, for the preStop hook; ls, cat, ...). */
export async function addBusybox(rootfs: string): Promise<void> {
  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) throw new Error(`${busybox} is missing: proving-ground/bootstrap-kube.sh installs busybox-static`);
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  cpSync(busybox, join(rootfs, 'bin/busybox'));
  const { stdout } = await run(busybox, ['--list-full']);
  for (const applet of stdout.split('\n').filter(Boolean)) {
    const target = join(rootfs, applet);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync('/bin/busybox', target);
  }
}
