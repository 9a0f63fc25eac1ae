import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/daprd';
import { type DockerfileStage, type ImageApp, checkReplayable, dockerfileOf, parseDockerfile, parseDockerignore, translateRun } from '../../harness/image';

// The replay in harness/image.ts is only as good as its reading of the Dockerfile and of
// .dockerignore; these checks take seconds, not the artifact test's minute.

const dockerignore = parseDockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');

describe('.dockerignore, read with Docker semantics', () => {
  test.each([
    'package.json',
    'package-lock.json',
    'tsconfig.base.json',
    'packages/common/package.json',
    'packages/common/topology.json',
    'packages/common/src/index.ts',
    'packages/contract/package.json',
    'packages/contract/tsconfig.json',
    'packages/contract/src/order.ts',
    'apps/order-store/src/main.ts',
    'apps/order-generator/src/config.ts',
    'Dockerfile',
  ])('lets %s in', (path) => {
    expect(dockerignore.ignores(path)).toBe(false);
  });

  test.each([
    'node_modules/zod/package.json',
    'apps/order-store/dist/main.js',
    'packages/common/dist/src/index.js',
    'packages/contract/dist/index.js',
    'packages/contract/test/order.test.ts',
    'apps/order-store/src/routes.test.ts',
    'apps/order-store/test/routes.test.ts',
    'apps/order-store/tsconfig.tsbuildinfo',
    'infra/cdk/package.json',
    'proving-ground/harness/image.ts',
    'dev/src/start.ts',
    '.git/HEAD',
  ])('keeps %s out', (path) => {
    expect(dockerignore.ignores(path)).toBe(true);
  });
});

describe.each<ImageApp>(['order-store', 'order-generator'])('the Dockerfile with APP=%s', (app) => {
  const { path, name, buildArgs } = dockerfileOf(app);

  test('is the repository\'s one Dockerfile, picked by its build argument', () => {
    expect({ path, name, buildArgs }).toEqual({ path: join(repoRoot, 'Dockerfile'), name: 'Dockerfile', buildArgs: { APP: app } });
  });

  test('parses into build and run stages from node:26-slim that copy and build this app only, and every instruction is replayable', () => {
    const stages = parseDockerfile(dockerfile, name, buildArgs);
    expect(stages.map((stage) => [stage.name, stage.from])).toEqual([
      ['build', 'node:26-slim'],
      ['run', 'node:26-slim'],
    ]);
    const args = stages.flatMap((stage) => stage.instructions.map((instruction) => instruction.args)).join('\n');
    const other = app === 'order-store' ? 'order-generator' : 'order-store';
    expect(args).toContain(`apps/${app}/src`);
    expect(args).not.toContain(other);
    expect(args).not.toContain('$');
    expect(() => checkReplayable(stages, name)).not.toThrow();
  });

  test.each([
    ['an ENTRYPOINT', (text: string) => text.replace(/^CMD .*$/m, 'ENTRYPOINT ["tini", "--"]\nCMD ["node", "dist/main.js"]'), /ENTRYPOINT is not replayed/],
    ['a shell-form CMD', (text: string) => text.replace(/^CMD .*$/m, 'CMD node dist/main.js'), /exec form/],
    ['a RUN that is not npm', (text: string) => text.replace('RUN npm run build', 'RUN apt-get update && npm run build'), /apt-get update" is not replayed/],
    ['an ADD', (text: string) => text.replace('COPY package.json package-lock.json tsconfig.base.json ./', 'ADD package.json package-lock.json tsconfig.base.json ./'), /ADD is not replayed/],
    ['another base image', (text: string) => text.replace('ARG NODE_IMAGE=node:26-slim', 'ARG NODE_IMAGE=gcr.io/distroless/nodejs26'), /only node:<major>/],
  ])('refuses a Dockerfile with %s', (_name, edit, error) => {
    const edited = edit(dockerfile);
    expect(edited).not.toBe(dockerfile);
    expect(() => checkReplayable(parseDockerfile(edited, name, buildArgs), name)).toThrow(error);
  });
});

describe('ARG, with Docker\'s scoping', () => {
  const text = ['ARG BASE=node:26-slim', 'ARG APP=order-store', 'FROM ${BASE} AS build', 'ARG APP', 'WORKDIR /app/apps/${APP}', 'FROM ${BASE}', 'ARG APP', 'COPY --from=build /app/apps/$APP/x x', 'CMD ["node", "$APP"]'].join('\n');

  test('a stage that declares a global ARG gets its default, or the build argument; exec-form CMD is left as written', () => {
    const argsOf = (stages: DockerfileStage[]) => stages.map((stage) => stage.instructions.map((instruction) => instruction.args));
    expect(argsOf(parseDockerfile(text))).toEqual([['/app/apps/order-store'], ['--from=build /app/apps/order-store/x x', '["node", "$APP"]']]);
    expect(argsOf(parseDockerfile(text, 'Dockerfile', { APP: 'order-generator' }))[1]![0]).toBe('--from=build /app/apps/order-generator/x x');
  });

  test('a stage that does not declare it cannot use it, as in Docker (where it would be empty)', () => {
    const undeclared = text.replace('FROM ${BASE}\nARG APP\n', 'FROM ${BASE}\n');
    expect(undeclared).not.toBe(text);
    expect(() => parseDockerfile(undeclared)).toThrow(/Dockerfile:7: uses \$APP, which no ARG in scope gives a value/);
  });

  test('a build argument no ARG declares is refused', () => {
    expect(() => parseDockerfile(text, 'Dockerfile', { APPS: 'order-store' })).toThrow(/no ARG declares the build argument APPS/);
  });
});

test('RUN npm ci becomes npm install with the same flags; npm cache clean is skipped', () => {
  expect(translateRun('npm ci --workspace apps/order-store --omit=dev --ignore-scripts && npm cache clean --force', 'x')).toEqual([
    ['install', '--prefer-offline', '--workspace', 'apps/order-store', '--omit=dev', '--ignore-scripts'],
  ]);
});
