import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../daprd';
import { type ImageApp, dockerfileOf } from '../image';
import { type DaprProgram, daprProgramBinary, kubeBinary } from './binaries';
import { type ImageBuilder, addBusybox, makeRootfs } from './images';
import { PAUSE_IMAGE, corednsVersion } from './node';

/**
 * The images a node with Dapr and the orders apps runs, all made here (images.ts): nothing is
 * pulled from any registry. Each is named exactly as its user asks for it (the sandbox image
 * containerd's CRI is configured with, the Dapr chart's and injector's image references, the
 * app images substituted into deploy/).
 */

const nonRoot = { name: 'nonroot', uid: 65532, home: '/home/nonroot' };

/** registry.k8s.io/pause, from kubernetes' own pause.c (bootstrap-kube.sh builds it). */
export async function pauseImage(builder: ImageBuilder, dir: string): Promise<string> {
  const rootfs = await makeRootfs(join(dir, 'pause'), { '/pause': kubeBinary('pause') });
  await builder.fromRootfs(PAUSE_IMAGE, rootfs, { entrypoint: ['/pause'], user: '65535:65535' });
  return builder.archive(PAUSE_IMAGE);
}

export function corednsImageRef(): string {
  return `registry.k8s.io/coredns/coredns:v${corednsVersion()}`;
}

export async function corednsImage(builder: ImageBuilder, dir: string): Promise<string> {
  const ref = corednsImageRef();
  const rootfs = await makeRootfs(join(dir, 'coredns'), { '/coredns': kubeBinary('coredns') }, [nonRoot]);
  await builder.fromRootfs(ref, rootfs, { entrypoint: ['/coredns'], user: '65532:65532' });
  return builder.archive(ref);
}

/** The Dapr program and version an image reference is for: ghcr.io/dapr/<program>:<version>. */
function daprProgramOf(ref: string): { program: DaprProgram; version: string } {
  const [, program, version] = /\/([a-z]+):([^/]+)$/.exec(ref) ?? [];
  if ((program === 'daprd' || program === 'sentry' || program === 'injector' || program === 'operator' || program === 'placement' || program === 'scheduler') && version) return { program, version };
  throw new Error(`no Dapr program is known for the image ${ref}`);
}

/**
 * One image per Dapr program, as Dapr's release images are (a distroless base with /<program>,
 * uid 65532): the binary of the image's version (binaries.ts), its libraries, and a CA
 * bundle. The bundle holds `trustedCa`: the cache stand-in's CA, in the role Amazon's root CAs play
 * in the real images' bundle for ElastiCache's certificate.
 */
export async function daprImages(builder: ImageBuilder, dir: string, refs: string[], trustedCa: string): Promise<string[]> {
  const archives: string[] = [];
  for (const ref of refs) {
    const { program, version } = daprProgramOf(ref);
    const binary = daprProgramBinary(program, version);
    const rootfs = await makeRootfs(join(dir, `dapr-${program}-${version}`), { [`/${program}`]: binary }, [nonRoot]);
    mkdirSync(join(rootfs, 'etc/ssl/certs'), { recursive: true });
    writeFileSync(join(rootfs, 'etc/ssl/certs/ca-certificates.crt'), readFileSync(trustedCa));
    await builder.fromRootfs(ref, rootfs, { entrypoint: [`/${program}`], user: '65532:65532' });
    archives.push(await builder.archive(ref));
  }
  return archives;
}

/**
 * The stand-in for the Dockerfile's NODE_IMAGE (node:<major>-slim): this machine's Node and its
 * npm at the paths the official image has them, busybox for /bin/sh (RUN's shell form) and
 * `sleep`, and the `node` user as uid 1000. Named after what it holds, and made only once per
 * Node binary, so that buildah's layer cache keeps the apps' `npm ci` layers between runs.
 */
export async function nodeBaseImage(builder: ImageBuilder, dir: string): Promise<string> {
  // The npm on PATH (beside the Node that runs the tests, or the machine's): bin/npm-cli.js in its package.
  const npmDir = dirname(dirname(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())));
  const npmVersion = (JSON.parse(readFileSync(join(npmDir, 'package.json'), 'utf8')) as { version: string }).version;
  const digest = createHash('sha256').update(readFileSync(process.execPath)).update(npmVersion).digest('hex').slice(0, 12);
  const ref = `localhost/orders-test/node:${process.versions.node}-${digest}`;
  if (await builder.exists(ref)) return ref;
  const rootfs = await makeRootfs(join(dir, 'node-base'), { '/usr/local/bin/node': process.execPath, '/usr/local/lib/node_modules/npm': npmDir }, [
    { name: 'node', uid: 1000, home: '/home/node' },
  ]);
  // npm finds its own files from its real path: the commands are symlinks, as in the image.
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
  await addBusybox(rootfs);
  await builder.fromRootfs(ref, rootfs, { cmd: ['node'] });
  return ref;
}

/**
 * The app's image built by buildah from the Dockerfile as it is, from the repository root, with the
 * build argument that picks the app and NODE_IMAGE the local base. RUN has no network: `npm ci` is
 * served by this machine's npm cache (the one `npm install` filled in bootstrap), mounted as an
 * overlay so the build's writes (`npm cache clean --force` among them) stay in the build, and an
 * npmrc that says `offline`. A package
 * missing from the cache fails the build with npm's ENOTCACHED and the package's name.
 */
export async function appImage(builder: ImageBuilder, dir: string, app: ImageApp, ref: string, nodeImage: string, npmCache: string): Promise<string> {
  const npmrc = join(dir, 'build-npmrc');
  writeFileSync(npmrc, 'offline=true\n');
  const dockerfile = dockerfileOf(app);
  await builder.buildDockerfile({
    ref,
    dockerfile: dockerfile.path,
    context: repoRoot,
    buildArgs: { ...dockerfile.buildArgs, NODE_IMAGE: nodeImage },
    overlayVolumes: { [npmCache]: '/root/.npm' },
    readOnlyFiles: { [npmrc]: '/root/.npmrc' },
  });
  return builder.archive(ref);
}
