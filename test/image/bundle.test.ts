import { expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { repoRoot } from '../../harness/daprd';
import { deferDaprSdkRequires, deferRequires } from '../../scripts/bundle/defer-requires';

const run = promisify(execFile);

describe('deferRequires: the SDK modules in the bundle load on first use', () => {
  const tscOutput = [
    '"use strict";',
    'exports.Client = void 0;',
    'const Client_1 = __importDefault(require("./Client"));',
    'exports.Client = Client_1.default;',
    'const grpc = __importStar(require("@grpc/grpc-js"));',
    'const util_1 = require("./util");',
    'const debug = require("debug");',
    'function connect() { return new grpc.Channel((0, util_1.address)()); }',
    'debug("loaded");',
  ].join('\n');

  test('a require whose binding is only read from is deferred, and a re-export becomes a getter', () => {
    const deferred = deferRequires(tscOutput);
    // Second: the module stays in strict mode.
    expect(deferred.split('\n').slice(0, 2)).toEqual(['"use strict";', expect.stringMatching(/^const \{ lazyModule: __lazyModule \} = require\(".*lazy-module\.ts"\);$/)]);
    expect(deferred).toContain('const Client_1 = __lazyModule(() => __importDefault(require("./Client")));');
    expect(deferred).toContain('const grpc = __lazyModule(() => __importStar(require("@grpc/grpc-js")));');
    expect(deferred).toContain('const util_1 = __lazyModule(() => require("./util"));');
    expect(deferred).toContain('Object.defineProperty(exports, "Client", { enumerable: true, get: () => Client_1.default });');
  });

  test('a binding that is called (or used other than by reading from it) keeps its require', () => {
    expect(deferRequires(tscOutput)).toContain('\nconst debug = require("debug");\n');
  });

  test('a file with nothing to defer is left as it is', () => {
    const plain = 'var jspb = require(\'google-protobuf\');\nconst f = require("f");\nf();\n';
    expect(deferRequires(plain)).toBe(plain);
  });

  test("with DaprClient over HTTP, the bundle never evaluates the SDK's gRPC side, and holds half the heap", async () => {
    // What each bundle reports after a full collection: the global protobuf namespace that the
    // gRPC stubs' generated code creates when it is evaluated, and the heap still in use.
    const entry = `
      const { CommunicationProtocolEnum, DaprClient, HTTPClient } = require('@dapr/dapr');
      const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: '1', communicationProtocol: CommunicationProtocolEnum.HTTP });
      globalThis.gc();
      console.log(JSON.stringify({ http: client.daprClient instanceof HTTPClient, protobufEvaluated: 'proto' in globalThis, heapUsed: process.memoryUsage().heapUsed }));
    `;
    const dir = mkdtempSync(join(tmpdir(), 'orders-bundle-'));
    try {
      const measure = async (deferred: boolean) => {
        const outfile = join(dir, `${deferred ? 'deferred' : 'eager'}.js`);
        await build({ stdin: { contents: entry, resolveDir: repoRoot }, outfile, bundle: true, platform: 'node', logLevel: 'error', plugins: deferred ? [deferDaprSdkRequires] : [] });
        const { stdout } = await run(process.execPath, ['--expose-gc', '--no-deprecation', outfile]);
        return JSON.parse(stdout) as { http: boolean; protobufEvaluated: boolean; heapUsed: number };
      };
      const eager = await measure(false);
      const deferred = await measure(true);
      expect(eager).toMatchObject({ http: true, protobufEvaluated: true });
      expect(deferred).toMatchObject({ http: true, protobufEvaluated: false });
      expect(deferred.heapUsed).toBeLessThan(eager.heapUsed * 0.6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
