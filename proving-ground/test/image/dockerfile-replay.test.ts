import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/daprd';
import { type ImageApp, checkReplayable, dockerfileOf, parseDockerfile, parseDockerignore, translateRun } from '../../harness/image';

// The replay in harness/image.ts is only as good as its reading of the Dockerfiles and of
// .dockerignore; these checks take seconds, not the artifact test's minute.

const dockerignore = parseDockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
const dockerfile = (app: ImageApp) => readFileSync(dockerfileOf(app), 'utf8');

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
    'apps/order-store/Dockerfile',
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

describe.each<ImageApp>(['order-store', 'order-generator'])('%s Dockerfile', (app) => {
  test('parses into build and run stages from node:26-slim, and every instruction is replayable', () => {
    const stages = parseDockerfile(dockerfile(app));
    expect(stages.map((stage) => [stage.name, stage.from])).toEqual([
      ['build', 'node:26-slim'],
      ['run', 'node:26-slim'],
    ]);
    expect(() => checkReplayable(stages, app)).not.toThrow();
  });

  test.each([
    ['an ENTRYPOINT', (text: string) => text.replace(/^CMD .*$/m, 'ENTRYPOINT ["tini", "--"]\nCMD ["node", "dist/main.js"]'), /ENTRYPOINT is not replayed/],
    ['a shell-form CMD', (text: string) => text.replace(/^CMD .*$/m, 'CMD node dist/main.js'), /exec form/],
    ['a RUN that is not npm', (text: string) => text.replace('RUN npm run build', 'RUN apt-get update && npm run build'), /apt-get update" is not replayed/],
    ['an ADD', (text: string) => text.replace('COPY package.json package-lock.json tsconfig.base.json ./', 'ADD package.json package-lock.json tsconfig.base.json ./'), /ADD is not replayed/],
    ['another base image', (text: string) => text.replace('ARG NODE_IMAGE=node:26-slim', 'ARG NODE_IMAGE=gcr.io/distroless/nodejs26'), /only node:<major>/],
  ])('refuses a Dockerfile with %s', (_name, edit, error) => {
    const edited = edit(dockerfile(app));
    expect(edited).not.toBe(dockerfile(app));
    expect(() => checkReplayable(parseDockerfile(edited), app)).toThrow(error);
  });
});

test('RUN npm ci becomes npm install with the same flags; npm cache clean is skipped', () => {
  expect(translateRun('npm ci --workspace apps/order-store --omit=dev --ignore-scripts && npm cache clean --force', 'x')).toEqual([
    ['install', '--prefer-offline', '--workspace', 'apps/order-store', '--omit=dev', '--ignore-scripts'],
  ]);
});
