import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative } from 'node:path';
import ts from 'typescript';

// Each package of the reference declares in its own package.json every package its source
// imports, and a shared package re-exports no third-party API: a copier who takes one app and the
// packages it declares gets everything it imports, and each import says where it comes from.

const root = join(__dirname, '../../..');
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

interface Workspace {
  /** The folder holding its package.json, from the repository root. */
  dir: string;
  /** The folders of its source, from `dir`: what it ships, not its tests. */
  sources: string[];
}

/** Every app and shared package, dev/ (npm start) and the CDK app. */
function referenceWorkspaces(): Workspace[] {
  const under = (parent: string) =>
    readdirSync(join(root, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(root, parent, entry.name, 'package.json')))
      .map((entry) => ({ dir: `${parent}/${entry.name}`, sources: ['src'] }));
  return [...under('apps'), ...under('packages'), { dir: 'dev', sources: ['src'] }, { dir: 'infra/cdk', sources: ['lib', 'bin'] }];
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sourceFiles(path);
    return SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The packages a file names in a bare specifier (import, import type, export from, require, import()), builtins left out. */
export function importedPackages(text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((imported) => imported.fileName)
    .filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('/') && !isBuiltin(specifier))
    .map(packageName);
}

/** `@scope/name/sub/path` is `@scope/name`; `name/sub/path` is `name`. */
function packageName(specifier: string): string {
  return specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
}

function declared(dir: string): Set<string> {
  const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { dependencies?: object; devDependencies?: object };
  return new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})]);
}

/** The names the workspaces publish (`@orders/common`...): re-exporting one of those is not re-exporting a third party's API. */
function workspaceNames(): Set<string> {
  const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  return new Set(workspaces.map((dir) => (JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { name: string }).name));
}

/**
 * What a file exports that comes from another package: `export ... from '<package>'`, and
 * `export { x }` or `export default x` of a binding imported from one.
 */
export function reExports(text: string, isThirdParty: (specifier: string) => boolean): string[] {
  const file = ts.createSourceFile('file.ts', text, ts.ScriptTarget.Latest, true);
  const importedFrom = new Map<string, string>();
  for (const statement of file.statements) {
    if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
      const from = statement.moduleSpecifier.text;
      const clause = statement.importClause;
      if (clause?.name) importedFrom.set(clause.name.text, from);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) importedFrom.set(bindings.name.text, from);
      if (bindings && ts.isNamedImports(bindings)) for (const element of bindings.elements) importedFrom.set(element.name.text, from);
    }
  }
  const found: string[] = [];
  for (const statement of file.statements) {
    if (ts.isExportDeclaration(statement)) {
      const names = statement.exportClause && ts.isNamedExports(statement.exportClause) ? statement.exportClause.elements : undefined;
      if (statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
        const from = statement.moduleSpecifier.text;
        if (isThirdParty(from)) found.push(`${names ? names.map((element) => element.name.text).join(', ') : '*'} from ${from}`);
      } else {
        for (const element of names ?? []) {
          const from = importedFrom.get((element.propertyName ?? element.name).text);
          if (from !== undefined && isThirdParty(from)) found.push(`${element.name.text} from ${from}`);
        }
      }
    }
    if (ts.isExportAssignment(statement) && ts.isIdentifier(statement.expression)) {
      const from = importedFrom.get(statement.expression.text);
      if (from !== undefined && isThirdParty(from)) found.push(`default (${statement.expression.text}) from ${from}`);
    }
  }
  return found;
}

describe("every package the reference's source imports is declared in its own package.json", () => {
  const workspaces = referenceWorkspaces();

  test('the scan covers both apps, the shared packages, dev/ and the CDK app', () => {
    expect(workspaces.map((workspace) => workspace.dir)).toEqual(
      expect.arrayContaining(['apps/order-store', 'apps/order-generator', 'packages/common', 'dev', 'infra/cdk']),
    );
    const files = workspaces.flatMap(({ dir, sources }) => sources.flatMap((source) => sourceFiles(join(root, dir, source))));
    expect(files).toEqual(expect.arrayContaining(['apps/order-store/src/routes.ts', 'infra/cdk/bin/app.ts'].map((path) => join(root, path))));
  });

  test.each(referenceWorkspaces())('$dir', ({ dir, sources }) => {
    const has = declared(dir);
    const undeclared = sources
      .flatMap((source) => sourceFiles(join(root, dir, source)))
      .flatMap((path) => importedPackages(readFileSync(path, 'utf8')).filter((name) => !has.has(name)).map((name) => `${relative(root, path)} imports ${name}`));
    expect([...new Set(undeclared)]).toEqual([]);
  });

  test('the scan reads every form of import and leaves out relative paths and builtins', () => {
    const text = [
      "import express from 'express';",
      "import type { Span } from '@opentelemetry/api';",
      "import topology from '@orders/common/topology.json';",
      "export { z } from 'zod';",
      "export * from 'aws-cdk-lib/aws-ec2';",
      "const pino = require('pino');",
      "const lazy = await import('yaml');",
      "import { readFileSync } from 'node:fs';",
      "import { join } from 'path';",
      "import { order } from './order';",
    ].join('\n');
    expect(importedPackages(text)).toEqual(['express', '@opentelemetry/api', '@orders/common', 'zod', 'aws-cdk-lib', 'pino', 'yaml']);
  });
});

describe('the shared packages re-export no third-party API', () => {
  const workspaceName = workspaceNames();
  const isThirdParty = (specifier: string) =>
    !specifier.startsWith('.') && !specifier.startsWith('/') && !isBuiltin(specifier) && !workspaceName.has(packageName(specifier));

  test.each(readdirSync(join(root, 'packages')))('packages/%s', (name) => {
    const found = sourceFiles(join(root, 'packages', name, 'src')).flatMap((path) =>
      reExports(readFileSync(path, 'utf8'), isThirdParty).map((what) => `${relative(root, path)} exports ${what}`),
    );
    expect(found).toEqual([]);
  });

  test('the scan finds each way a module passes another package on', () => {
    const text = [
      "import { type Span, SpanKind, trace } from '@opentelemetry/api';",
      "import * as prom from 'prom-client';",
      "import pino from 'pino';",
      "import { topology } from '@orders/common';",
      "import { setting } from './settings';",
      'export { SpanKind, type Span, trace as tracer, topology, setting };',
      "export { Registry } from 'prom-client';",
      "export * from 'zod';",
      "export { listen } from './listen';",
      'export { prom };',
      'export default pino;',
    ].join('\n');
    expect(reExports(text, (specifier) => !specifier.startsWith('.') && specifier !== '@orders/common')).toEqual([
      'SpanKind from @opentelemetry/api',
      'Span from @opentelemetry/api',
      'tracer from @opentelemetry/api',
      'Registry from prom-client',
      '* from zod',
      'prom from prom-client',
      'default (pino) from pino',
    ]);
  });
});
