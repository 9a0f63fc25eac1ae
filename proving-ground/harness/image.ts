import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './daprd';
import { type Proc, type StartOptions, startProcess } from '../../dev/src/processes';

const run = promisify(execFile);

/**
 * What an app's container image would hold and run, made without a Docker engine: the
 * Dockerfile's stages replayed on this machine. Each stage gets a directory that stands for its
 * root filesystem; COPY takes from the build context (the repository, filtered by .dockerignore)
 * or from an earlier stage's directory; RUN runs its npm commands in the stage's WORKDIR. The base
 * image contributes Node and npm only, so this machine's Node stands in for it (same major).
 *
 * The Dockerfile is parsed, not restated: an instruction, flag or command the replay does not
 * understand fails the build, so a Dockerfile change cannot silently leave this test behind.
 */
export type ImageApp = 'order-store' | 'order-generator';

export interface ImageArtifact {
  app: ImageApp;
  /** The final stage's root filesystem. */
  root: string;
  /** The final WORKDIR, in the image (`/app/apps/order-store`) and on this machine. */
  imageWorkdir: string;
  workdir: string;
  /** CMD, exec form, e.g. ["node", "dist/bundle.js"]. */
  cmd: string[];
  /** HEALTHCHECK's CMD, exec form, when the Dockerfile has one. */
  healthcheck?: string[];
  /** ENV of the final stage, e.g. NODE_ENV=production. */
  env: Record<string, string>;
  /** USER of the final stage, numeric `uid[:gid]`. */
  user?: { uid: number; gid: number };
  /** The base image every stage starts FROM (after ARG substitution). */
  baseImage: string;
  /** How long each stage took, for the test's log. */
  timings: Record<string, number>;
  remove(): void;
}

// ---------------------------------------------------------------------------------------------
// Parsing

export interface Instruction {
  keyword: string;
  args: string;
  /** 1-based line of the instruction's first line, for error messages. */
  line: number;
}

export interface DockerfileStage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** Instructions whose exec form Docker passes to the program as written, with no substitution. */
const NOT_SUBSTITUTED = new Set(['CMD', 'HEALTHCHECK', 'ENTRYPOINT']);

/**
 * Splits a Dockerfile into stages of instructions, with Docker's ARG rules: an ARG before the first
 * FROM is usable in FROM lines; a stage sees it once it declares `ARG NAME` itself; a build argument
 * overrides either default. Its value is substituted into every instruction but the exec forms, and
 * the ARGs themselves are consumed. A variable no ARG in scope declares fails the parse (Docker would
 * make it empty), as does a build argument no ARG declares.
 */
export function parseDockerfile(text: string, path = 'Dockerfile', buildArgs: Record<string, string> = {}): DockerfileStage[] {
  const globalArgs: Record<string, string | undefined> = {};
  const declared = new Set<string>();
  let stageArgs: Record<string, string | undefined> = {};
  const stages: DockerfileStage[] = [];
  const lines = text.split('\n');
  const substitute = (value: string, scope: Record<string, string | undefined>, where: string) =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_all, a?: string, b?: string) => {
      const name = (a ?? b)!;
      const substituted = scope[name];
      if (substituted === undefined) throw new Error(`${where}: uses $${name}, which no ARG in scope gives a value`);
      return substituted;
    });
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let logical = lines[i]!;
    if (/^\s*(#|$)/.test(logical)) continue;
    // Continuation lines; comment lines inside a continuation are dropped, as Docker does.
    while (/\\\s*$/.test(logical) && i + 1 < lines.length) {
      logical = logical.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i]!)) logical += lines[i]!;
    }
    const where = `${path}:${start + 1}`;
    const match = /^\s*([A-Za-z]+)\s+(.*?)\s*$/.exec(logical);
    if (!match) throw new Error(`${where}: cannot parse "${logical.trim()}"`);
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!;
    if (keyword === 'ARG') {
      const [name, value] = splitAssignment(args, path, start + 1);
      declared.add(name);
      if (stages.length === 0) globalArgs[name] = buildArgs[name] ?? value;
      else stageArgs[name] = buildArgs[name] ?? value ?? globalArgs[name];
      continue;
    }
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`${where}: cannot parse FROM ${args}`);
      stages.push({ name: from[2] ?? String(stages.length), from: substitute(from[1]!, globalArgs, where), instructions: [] });
      stageArgs = {};
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${where}: ${keyword} before the first FROM`);
    stage.instructions.push({ keyword, args: NOT_SUBSTITUTED.has(keyword) ? args : substitute(args, stageArgs, where), line: start + 1 });
  }
  if (stages.length === 0) throw new Error(`${path}: no FROM`);
  const unused = Object.keys(buildArgs).filter((name) => !declared.has(name));
  if (unused.length > 0) throw new Error(`${path}: no ARG declares the build argument ${unused.join(', ')}`);
  return stages;
}

/** NAME or NAME=value (ARG, ENV): the value is undefined when there is none. */
function splitAssignment(args: string, path: string, line: number): [string, string | undefined] {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?$/.exec(args);
  if (!match) throw new Error(`${path}:${line}: cannot parse "${args}" (quotes and several assignments are not replayed)`);
  return [match[1]!, match[2]];
}

function execForm(args: string, what: string, where: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw new Error(`${where}: ${what} must be in exec form (a JSON array); the shell form is not replayed`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((item) => typeof item === 'string')) {
    throw new Error(`${where}: ${what} must be a non-empty JSON array of strings`);
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore, with Docker's semantics (moby/patternmatcher): patterns are matched in order
// against a path and each of its parent directories, the last matching pattern decides, and
// `!` lets a path back in.

export interface IgnoreRules {
  ignores(relativePath: string): boolean;
}

export function parseDockerignore(text: string): IgnoreRules {
  const patterns = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const exclusion = line.startsWith('!');
      const cleaned = posix.normalize((exclusion ? line.slice(1) : line).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      return { exclusion, regex: patternRegex(cleaned) };
    });
  return {
    ignores(relativePath: string) {
      const parts = relativePath.split('/');
      const candidates = parts.map((_part, i) => parts.slice(0, i + 1).join('/'));
      let ignored = false;
      for (const { exclusion, regex } of patterns) {
        if (candidates.some((candidate) => regex.test(candidate))) ignored = !exclusion;
      }
      return ignored;
    },
  };
}

function patternRegex(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[' || char === '\\') throw new Error(`.dockerignore: character classes and escapes are not replayed (${pattern})`);
    else source += char.replace(/[.+^${}()|]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

// ---------------------------------------------------------------------------------------------
// Replay

interface StageState {
  root: string;
  /** Absolute, in the image. */
  workdir: string;
  env: Record<string, string>;
  user?: { uid: number; gid: number };
  cmd?: string[];
  healthcheck?: string[];
}

const onHost = (stage: StageState, imagePath: string) => join(stage.root, imagePath);
const inImage = (stage: StageState, path: string) => posix.resolve(stage.workdir, path);

/** The host environment npm needs (PATH, HOME for its cache and npmrc, CA and proxy settings), nothing else. */
function hostEssentials(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];
  return Object.fromEntries(keep.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])));
}

function copyTree(from: string, to: string, keep: (relative: string) => boolean, relative = ''): number {
  const stat = lstatSync(from);
  if (stat.isDirectory()) {
    let copied = 0;
    for (const entry of readdirSync(from)) {
      const childRelative = relative ? `${relative}/${entry}` : entry;
      copied += copyTree(join(from, entry), join(to, entry), keep, childRelative);
    }
    return copied;
  }
  if (!keep(relative)) return 0;
  mkdirSync(dirname(to), { recursive: true });
  // A link (npm's link to a workspace) is copied as the link itself, as Docker's COPY does.
  if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
  else cpSync(from, to);
  return 1;
}

/** COPY [--from=stage] src... dest, with Docker's rules for files, directories and trailing slashes. */
function replayCopy(args: string, stage: StageState, stages: Map<string, StageState>, ignore: IgnoreRules, where: string): void {
  if (args.startsWith('[')) throw new Error(`${where}: COPY's JSON form is not replayed`);
  const words = args.split(/\s+/);
  let source: { root: string; ignore?: IgnoreRules; label: string } = { root: repoRoot, ignore, label: 'the build context' };
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    const from = /^--from=(.+)$/.exec(flag);
    const other = from ? stages.get(from[1]!) : undefined;
    if (!from || !other) throw new Error(`${where}: COPY ${flag} is not replayed (only --from=<earlier stage>)`);
    source = { root: other.root, label: `stage ${from[1]}` };
  }
  const dest = words.pop();
  if (!dest || words.length === 0) throw new Error(`${where}: COPY needs a source and a destination`);
  const destInImage = inImage(stage, dest);
  const intoDirectory = dest.endsWith('/') || words.length > 1;
  for (const src of words) {
    if (/[*?[]/.test(src) || src.includes('$')) throw new Error(`${where}: COPY source ${src}: wildcards and variables are not replayed`);
    const relative = posix.normalize(src).replace(/^\/+/, '').replace(/\/+$/, '');
    const from = join(source.root, relative);
    const keep = (path: string) => !source.ignore?.ignores(path ? posix.join(relative, path) : relative);
    if (!existsSync(from)) throw new Error(`${where}: COPY ${src}: not found in ${source.label}`);
    const isDirectory = lstatSync(from).isDirectory();
    const target = isDirectory
      ? onHost(stage, destInImage)
      : onHost(stage, intoDirectory ? posix.join(destInImage, posix.basename(relative)) : destInImage);
    mkdirSync(isDirectory ? target : dirname(target), { recursive: true });
    // Docker fails a COPY whose source .dockerignore leaves out entirely; so does the replay.
    const copied = isDirectory ? copyTree(from, target, keep) : keep('') ? copyTree(from, target, () => true) : 0;
    if (copied === 0) throw new Error(`${where}: COPY ${src}: nothing left of it after .dockerignore`);
  }
}

/**
 * RUN, for the npm commands the Dockerfiles use, joined by `&&`: the npm argument lists to run.
 * `npm ci` becomes `npm install`: the image (node:26-slim) runs `npm ci`, but this
 * machine's npm 11 has a lockfile bug that breaks `npm ci` in a workspace subset; with the same
 * lockfile, flags and workspaces, install resolves the same tree. `--prefer-offline` only skips
 * revalidating a warm cache. `npm cache clean --force` keeps the image layer small; here it would
 * empty this machine's shared npm cache, so it is skipped.
 */
export function translateRun(args: string, where: string): string[][] {
  if (args.startsWith('[')) throw new Error(`${where}: RUN's JSON form is not replayed`);
  return args
    .split('&&')
    .map((part) => part.trim())
    .flatMap((command) => {
      if (/[|;<>`$"'()&]/.test(command)) throw new Error(`${where}: RUN "${command}": shell syntax is not replayed`);
      const words = command.split(/\s+/);
      if (words[0] === 'npm' && words[1] === 'ci') return [['install', '--prefer-offline', ...words.slice(2)]];
      if (words[0] === 'npm' && words[1] === 'run') return [words.slice(1)];
      if (command === 'npm cache clean --force') return [];
      throw new Error(`${where}: RUN "${command}" is not replayed (only npm ci, npm run and npm cache clean)`);
    });
}

async function replayRun(args: string, stage: StageState, where: string): Promise<void> {
  for (const npmArgs of translateRun(args, where)) {
    const cwd = onHost(stage, stage.workdir);
    try {
      await run('npm', npmArgs, { cwd, env: { ...hostEssentials(), ...stage.env }, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`${where}: npm ${npmArgs.join(' ')} failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error });
    }
  }
}

const METADATA_ONLY = new Set(['EXPOSE', 'STOPSIGNAL', 'LABEL']);
const REPLAYED = new Set(['WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'CMD', 'HEALTHCHECK', ...METADATA_ONLY]);

/**
 * Fails, before anything is built, on what the replay would not reproduce faithfully: unknown
 * instructions, RUN commands other than npm's, CMD in shell form, a non-node base image.
 */
export function checkReplayable(stages: DockerfileStage[], path: string): void {
  const names = new Set<string>();
  for (const stage of stages) {
    if (!names.has(stage.from) && nodeMajorOf(stage.from) === undefined) {
      throw new Error(`${path}: FROM ${stage.from}: only node:<major> base images and earlier stages are replayed`);
    }
    names.add(stage.name);
    for (const { keyword, args, line } of stage.instructions) {
      const where = `${path}:${line}`;
      if (!REPLAYED.has(keyword)) {
        throw new Error(`${where}: ${keyword} is not replayed (ENTRYPOINT, ADD, SHELL and VOLUME change what is built or run)`);
      }
      if (keyword === 'RUN') translateRun(args, where);
      if (keyword === 'CMD') execForm(args, 'CMD', where);
    }
  }
  if (!stages.at(-1)!.instructions.some((instruction) => instruction.keyword === 'CMD')) throw new Error(`${path}: the final stage has no CMD`);
}

/** The Node major a base image tag names, e.g. 20 for node:20-slim. */
function nodeMajorOf(image: string): number | undefined {
  const match = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)/.exec(image);
  return match ? Number(match[1]) : undefined;
}

/** The Dockerfile an app's image is built from, and the build arguments that pick the app. */
export interface AppDockerfile {
  /** Absolute. */
  path: string;
  /** Relative to the checkout, for messages. */
  name: string;
  buildArgs: Record<string, string>;
}

/**
 * The repository's one Dockerfile with `APP=<app>`; in a checkout from before it (a bench
 * baseline), the app's own apps/<app>/Dockerfile.
 */
export function dockerfileOf(app: ImageApp, root = repoRoot): AppDockerfile {
  const own = join('apps', app, 'Dockerfile');
  if (existsSync(join(root, own))) return { path: join(root, own), name: own, buildArgs: {} };
  return { path: join(root, 'Dockerfile'), name: 'Dockerfile', buildArgs: { APP: app } };
}

function parseAppDockerfile(dockerfile: AppDockerfile): DockerfileStage[] {
  return parseDockerfile(readFileSync(dockerfile.path, 'utf8'), dockerfile.name, dockerfile.buildArgs);
}

/**
 * How the image starts the app: the final stage's CMD, Node flags included, and the ENV it sets
 * (stages it is built FROM included); `root` is the checkout to read.
 */
export function imageStart(app: ImageApp, root = repoRoot): { cmd: string[]; env: Record<string, string> } {
  const dockerfile = dockerfileOf(app, root);
  const stages = parseAppDockerfile(dockerfile);
  const final = stages.at(-1)!;
  const cmd = final.instructions.filter((i) => i.keyword === 'CMD').at(-1);
  if (!cmd) throw new Error(`${dockerfile.name}: the final stage has no CMD`);
  const lineage: DockerfileStage[] = [];
  for (let stage: DockerfileStage | undefined = final; stage; stage = stages.find((s) => s.name === stage.from)) lineage.unshift(stage);
  const env = Object.fromEntries(
    lineage.flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'ENV').map((i) => envAssignment(i.args, dockerfile.name, i.line))),
  );
  return { cmd: execForm(cmd.args, 'CMD', `${dockerfile.name}:${cmd.line}`), env };
}

function envAssignment(args: string, path: string, line: number): [string, string] {
  const [name, value] = splitAssignment(args, path, line);
  if (value === undefined) throw new Error(`${path}:${line}: ENV ${name} has no value`);
  return [name, value];
}

/** Replays the app's Dockerfile into a new temporary directory (about 25s with a warm npm cache). */
export async function buildImageArtifact(app: ImageApp): Promise<ImageArtifact> {
  const dockerfile = dockerfileOf(app);
  // BuildKit prefers <Dockerfile>.dockerignore next to the Dockerfile; the replay knows only the context's.
  if (existsSync(`${dockerfile.path}.dockerignore`)) throw new Error(`${dockerfile.name}.dockerignore exists: the replay does not read it`);
  const ignore = parseDockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
  const parsed = parseAppDockerfile(dockerfile);
  checkReplayable(parsed, dockerfile.name);

  const base = mkdtempSync(join(tmpdir(), `orders-image-${app}-`));
  // mkdtemp makes 0700; the final stage's USER must be able to reach its files.
  chmodSync(base, 0o755);
  const remove = () => rmSync(base, { recursive: true, force: true });
  const stages = new Map<string, StageState>();
  const timings: Record<string, number> = {};
  let baseImage = '';
  try {
    for (const definition of parsed) {
      const started = Date.now();
      const where = (line: number) => `${dockerfile.name}:${line}`;
      const parent = stages.get(definition.from);
      const root = join(base, definition.name);
      let stage: StageState;
      if (parent) {
        cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true });
        stage = { ...parent, root, env: { ...parent.env } };
      } else {
        const major = nodeMajorOf(definition.from);
        const ours = Number(process.versions.node.split('.')[0]);
        if (major === undefined) throw new Error(`${where(0)}: FROM ${definition.from}: only node:<major> base images are replayed`);
        if (major !== ours) throw new Error(`FROM ${definition.from}: the replay runs on this machine's Node ${process.versions.node}, not ${major}`);
        baseImage = definition.from;
        mkdirSync(root, { recursive: true });
        chmodSync(root, 0o755);
        stage = { root, workdir: '/', env: {} };
      }
      for (const { keyword, args, line } of definition.instructions) {
        switch (keyword) {
          case 'WORKDIR':
            if (args.includes('$')) throw new Error(`${where(line)}: WORKDIR with variables is not replayed`);
            stage.workdir = inImage(stage, args);
            mkdirSync(onHost(stage, stage.workdir), { recursive: true });
            break;
          case 'COPY':
            replayCopy(args, stage, stages, ignore, where(line));
            break;
          case 'RUN':
            await replayRun(args, stage, where(line));
            break;
          case 'ENV': {
            const [name, value] = envAssignment(args, dockerfile.name, line);
            stage.env[name] = value;
            break;
          }
          case 'USER': {
            const user = /^(\d+)(?::(\d+))?$/.exec(args);
            if (!user) throw new Error(`${where(line)}: USER ${args}: only numeric uid[:gid] is replayed`);
            stage.user = { uid: Number(user[1]), gid: Number(user[2] ?? user[1]) };
            break;
          }
          case 'CMD':
            stage.cmd = execForm(args, 'CMD', where(line));
            break;
          case 'HEALTHCHECK': {
            const check = /^(?:--\S+\s+)*CMD\s+(.*)$/.exec(args);
            if (!check) throw new Error(`${where(line)}: HEALTHCHECK ${args} is not replayed`);
            stage.healthcheck = execForm(check[1]!, 'HEALTHCHECK CMD', where(line));
            break;
          }
          default:
            // Metadata for the engine (EXPOSE, STOPSIGNAL, LABEL): nothing in the filesystem or
            // the command changes. checkReplayable has refused every other keyword.
            if (!METADATA_ONLY.has(keyword)) throw new Error(`${where(line)}: ${keyword} is not replayed`);
        }
      }
      stages.set(definition.name, stage);
      timings[definition.name] = Date.now() - started;
    }
    const final = stages.get(parsed.at(-1)!.name)!;
    if (!final.cmd) throw new Error(`${dockerfile.name}: the final stage has no CMD`);
    return {
      app,
      root: final.root,
      imageWorkdir: final.workdir,
      workdir: onHost(final, final.workdir),
      cmd: final.cmd,
      ...(final.healthcheck ? { healthcheck: final.healthcheck } : {}),
      env: final.env,
      ...(final.user ? { user: final.user } : {}),
      baseImage,
      timings,
      remove,
    };
  } catch (error) {
    remove();
    throw error;
  }
}

/**
 * The command line that runs `argv` (CMD or HEALTHCHECK, exec form) as the image would: this
 * machine's Node for the image's `node`, from the final WORKDIR, with only the image's ENV and the
 * given variables, and as the image's USER when this process may switch to it (setpriv, as root).
 */
export function imageCommand(artifact: ImageArtifact, argv: string[], env: NodeJS.ProcessEnv = {}): { command: string; args: string[]; options: StartOptions } {
  const [program, ...rest] = argv;
  if (program !== 'node') throw new Error(`${artifact.app}: the image runs ${program}; only node is replayed`);
  // PATH only so that setpriv and node are found; the image's own PATH holds the same node.
  const processEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...artifact.env, ...env };
  const asUser = artifact.user && process.getuid?.() === 0
    ? ['setpriv', `--reuid=${artifact.user.uid}`, `--regid=${artifact.user.gid}`, '--clear-groups', '--']
    : [];
  const full = [...asUser, process.execPath, ...rest];
  return { command: full[0]!, args: full.slice(1), options: { cwd: artifact.workdir, env: processEnv } };
}

/** Starts the artifact's CMD through the harness, so it is tracked and stopped like every process. */
export function startImage(artifact: ImageArtifact, env: NodeJS.ProcessEnv = {}, echo?: NodeJS.WritableStream): Proc {
  const { command, args, options } = imageCommand(artifact, artifact.cmd, env);
  return startProcess(`image:${artifact.app}`, command, args, { ...options, ...(echo ? { echo } : {}) });
}
