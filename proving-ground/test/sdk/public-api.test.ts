import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

// The apps reach the Dapr JS SDK through its package index only, as its docs and the Dapr
// quickstarts do (`import { DaprClient } from '@dapr/dapr'`). Its internal paths
// (implementation/, enum/, types/...) move between releases, and a module-cache trick is not
// something a reader who copies the adapter should copy along with it.

const root = join(__dirname, '../../..');
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Every source file under apps/ and packages/, built output and installed packages left out. */
function sourceFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) found.push(path);
    }
  };
  walk(join(root, 'apps'));
  walk(join(root, 'packages'));
  return found;
}

/**
 * What in `text` reaches past the SDK's front door: a module specifier (import, export, require,
 * import(), import type) naming a path inside `@dapr/dapr`, or any use of Node's module cache
 * (`require.cache`, `Module._cache`), read or written.
 */
function backDoors(fileName: string, text: string): string[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const where = (node: ts.Node): string => `${fileName}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const visit = (node: ts.Node): void => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && node.text.startsWith('@dapr/dapr/')) {
      found.push(`${where(node)} names ${node.text}`);
    }
    if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      const name = ts.isPropertyAccessExpression(node) ? node.name.text : ts.isStringLiteral(node.argumentExpression) ? node.argumentExpression.text : '';
      const owner = node.expression.getText(file);
      if ((name === 'cache' && /(^|\.|\))require$|createRequire\(/.test(owner)) || name === '_cache') {
        found.push(`${where(node)} uses the module cache (${owner}.${name})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

describe('the Dapr SDK through its public API', () => {
  test('no source file under apps/ or packages/ deep-imports @dapr/dapr or touches the module cache', () => {
    const files = sourceFiles();
    // The scan must see the adapter itself, or it proves nothing.
    expect(files).toContain(join(root, 'packages/common/src/dapr.ts'));
    const found = files.flatMap((path) => backDoors(relative(root, path), readFileSync(path, 'utf8')));
    expect(found).toEqual([]);
  });

  test('the scan finds each way the old adapter reached past the index', () => {
    const old = [
      "import HTTPClientState from '@dapr/dapr/implementation/Client/HTTPClient/state';",
      "import type { KeyValuePairType } from '@dapr/dapr/types/KeyValuePair.type';",
      "export { HttpMethod } from '@dapr/dapr/enum/HttpMethod.enum';",
      "type C = typeof import('@dapr/dapr/implementation/Client/HTTPClient/HTTPClient').default;",
      "const client = require('@dapr/dapr/implementation/Client/HTTPClient/HTTPClient');",
      "const index = require.resolve('@dapr/dapr'); require.cache[index] = placeholder;",
      "delete require['cache'][index];",
      'createRequire(import.meta.url).cache[index] = placeholder;',
      '(Module as any)._cache[index] = placeholder;',
    ];
    expect(old.map((line) => backDoors('old.ts', line).length)).toEqual(old.map(() => 1));
    expect(backDoors('new.ts', "import { DaprClient, HttpMethod } from '@dapr/dapr'; const cache = new Map(); cache.get('x');")).toEqual([]);
  });

  test("in a fresh Node process DaprSidecar uses the SDK's real index, not a stand-in", () => {
    // Outside jest, whose module registry is its own: what the apps run with.
    const script = [
      "const { types } = require('node:util');",
      "const { DaprSidecar } = require('@orders/common');",
      "new DaprSidecar({ host: '127.0.0.1', httpPort: 3500 }).close();",
      "const index = require.resolve('@dapr/dapr');",
      'const loaded = require.cache[index];',
      'process.stdout.write(JSON.stringify({ loaded: loaded?.loaded === true, proxy: loaded ? types.isProxy(loaded.exports) : null }));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--conditions=development', '--import=tsx', '-e', script], {
      cwd: join(root, 'packages/common'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(out)).toEqual({ loaded: true, proxy: false });
  });
});
