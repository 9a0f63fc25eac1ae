import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

// What a fresh Node process loads for DaprSidecar, outside jest (whose module registry keeps the
// SDK's index from staying lazy): the SDK's HTTP client, and none of what only its other parts use.
describe('DaprSidecar loads only the SDK it uses', () => {
  const loaded = (): string[] => {
    const script = [
      "const { DaprSidecar } = require('@orders/common');",
      "const sidecar = new DaprSidecar({ host: '127.0.0.1', httpPort: 3500 });",
      'sidecar.close();',
      'process.stdout.write(JSON.stringify(Object.keys(require.cache)));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--conditions=development', '--import=tsx', '-e', script], {
      cwd: join(__dirname, '..'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    return JSON.parse(out) as string[];
  };

  test("the SDK's HTTP client, but not its gRPC client, protobufs, server, actors or workflows", () => {
    const modules = loaded();
    expect(modules.some((path) => path.endsWith('@dapr/dapr/implementation/Client/HTTPClient/HTTPClient.js'))).toBe(true);
    expect(modules.some((path) => path.includes('/node_modules/node-fetch/'))).toBe(true);
    const unused = modules.filter((path) =>
      /\/node_modules\/(@grpc\/grpc-js|@bufbuild\/protobuf|google-protobuf|@connectrpc|@dapr\/durabletask-js|@js-temporal|express|body-parser)\//.test(path) ||
      /@dapr\/dapr\/(implementation\/Client\/GRPCClient|implementation\/Server|proto|actors|workflow)\//.test(path),
    );
    expect(unused).toEqual([]);
  });
});
