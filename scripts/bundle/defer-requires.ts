import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plugin } from 'esbuild';

/**
 * The apps import DaprClient from the Dapr SDK's index, as its docs do. Loading that index
 * evaluates nearly the whole SDK at start: DaprClient's own module requires its gRPC client (and
 * with it grpc-js and every generated protobuf class), the actor runtime, the workflow runtime,
 * the Temporal polyfill and a second express, although the apps speak HTTP to their sidecars
 * only. That is about 22 MB of each app's RSS, held for nothing (bench/README.md, One file per
 * image).
 *
 * So the bundle defers the SDK's own requires to their first use, as Metro's inline requires and
 * Babel's `lazy` CommonJS option do: `const X_1 = require("./x")`, as tsc writes it, becomes
 * `const X_1 = lazyModule(() => require("./x"))`, and ./x is evaluated when code first reads a
 * property of X_1. The SDK's code is otherwise left as it is.
 */

/** A top-level require as tsc emits it for the SDK (`esModuleInterop`): `const NAME = [__importDefault(|__importStar(]require("SPEC")[)];`. */
const TOP_LEVEL_REQUIRE = /^const (\w+) = ((?:__importDefault|__importStar)\()?require\(("[^"]+")\)(\)?);$/gm;

const LAZY_MODULE = JSON.stringify(join(__dirname, 'lazy-module.ts'));

const USE_STRICT = '"use strict";\n';

/**
 * `source` with each top-level require deferred whose binding is only ever read from (`X_1.name`,
 * `X_1[key]`): anything else (a call, a `typeof`, passing it on) keeps its require as it was. The
 * index's `exports.Name = X_1.default;` become getters, so that re-exporting is not a use.
 */
export function deferRequires(source: string): string {
  const deferred = new Set<string>();
  const rewritten = source.replace(TOP_LEVEL_REQUIRE, (statement, name: string, wrapper: string | undefined, spec: string, close: string) => {
    if (!onlyReadFrom(source.replace(statement, ''), name)) return statement;
    deferred.add(name);
    return `const ${name} = __lazyModule(() => ${wrapper ?? ''}require(${spec})${close});`;
  });
  if (deferred.size === 0) return source;
  const reexported = rewritten.replace(/^exports\.(\w+) = (\w+)\.(\w+);$/gm, (statement, exported: string, name: string, property: string) =>
    deferred.has(name) ? `Object.defineProperty(exports, "${exported}", { enumerable: true, get: () => ${name}.${property} });` : statement);
  const helper = `const { lazyModule: __lazyModule } = require(${LAZY_MODULE});\n`;
  // After the "use strict" tsc puts first: a directive anywhere else would be an idle string, and
  // the module would run in sloppy mode.
  return reexported.startsWith(USE_STRICT) ? USE_STRICT + helper + reexported.slice(USE_STRICT.length) : helper + reexported;
}

/**
 * Every use of `name` in `code` (the module without its require) reads a property of it. The name
 * inside a string or a comment counts as a use too, which only ever keeps a require as it was.
 */
function onlyReadFrom(code: string, name: string): boolean {
  return [...code.matchAll(new RegExp(`(?<![\\w$.])${name}(?![\\w$])(.?)`, 'g'))].every(([, next]) => next === '.' || next === '[');
}

/** An esbuild plugin that applies deferRequires to the Dapr SDK's own files (not to the packages it depends on). */
export const deferDaprSdkRequires: Plugin = {
  name: 'defer-dapr-sdk-requires',
  setup(build) {
    // esbuild's filters are Go regular expressions, without lookahead: the SDK's own
    // node_modules (its express 4) are left out here, and loaded as esbuild loads any file.
    build.onLoad({ filter: /[\\/]node_modules[\\/]@dapr[\\/]dapr[\\/].*\.js$/ }, async ({ path }) =>
      /[\\/]@dapr[\\/]dapr[\\/]node_modules[\\/]/.test(path) ? undefined : { contents: deferRequires(await readFile(path, 'utf8')), loader: 'js' });
  },
};
