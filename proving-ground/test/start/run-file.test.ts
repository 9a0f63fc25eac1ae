import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { topology } from '@orders/common';
import { parse } from 'yaml';
import { repoRoot } from '../../harness/daprd';
import { imageStart } from '../../harness/image';
import { replicatedRunFile } from '../../../dev/src/run-file';

interface App {
  appID: string;
  appDirPath: string;
  appPort?: number;
  daprHTTPPort: number;
  daprGRPCPort: number;
  metricsPort: number;
  command: string[];
  env?: Record<string, string>;
}

describe('ORDER_STORE_REPLICAS: the run file npm start writes', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'orders-run-file-'));
  const base = parse(readFileSync(join(repoRoot, 'dapr.yaml'), 'utf8')) as { apps: App[]; common: Record<string, unknown> };
  const written = replicatedRunFile(join(repoRoot, 'dapr.yaml'), 3, outDir);
  const runFile = parse(readFileSync(written.path, 'utf8')) as { apps: App[]; common: Record<string, unknown> };
  const stores = runFile.apps.filter((app) => app.appID === topology.orderStore.appId);

  test('order-store runs as that many apps under its one app id, the generator as before', () => {
    expect(stores).toHaveLength(3);
    expect(runFile.apps.filter((app) => app.appID === topology.orderGenerator.appId)).toEqual([
      { ...base.apps.find((app) => app.appID === topology.orderGenerator.appId), appDirPath: join(repoRoot, 'apps', 'order-generator') },
    ]);
    expect(written.storePorts).toEqual(stores.map((app) => app.appPort));
  });

  test('no two apps share a port or a log directory, and none takes the port the load balancer listens on', () => {
    const ports = runFile.apps.flatMap((app) => [app.appPort, app.daprHTTPPort, app.daprGRPCPort, app.metricsPort].filter((port) => port !== undefined));
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports).not.toContain(topology.orderStore.port);
    expect(new Set(runFile.apps.map((app) => app.appDirPath)).size).toBe(runFile.apps.length);
  });

  test('every fixed port is below the range outgoing connections take their local ports from', () => {
    // Linux's default 32768-60999; macOS and Windows start at 49152. An outgoing connection
    // holding a sidecar's port made `dapr run` refuse to start in CI ("Port 50102 is not available").
    const ports = runFile.apps.flatMap((app) => [app.appPort, app.daprHTTPPort, app.daprGRPCPort, app.metricsPort].filter((port) => port !== undefined));
    expect(ports.filter((port) => port >= 32768)).toEqual([]);
  });

  test('every path is absolute, since the CLI reads them relative to the run file', () => {
    expect(isAbsolute(String(runFile.common.resourcesPath))).toBe(true);
    expect(isAbsolute(String(runFile.common.configFilePath))).toBe(true);
    for (const store of stores) {
      expect(store.env).toEqual(expect.objectContaining({ PORT: String(store.appPort) }));
      expect(store.command.at(-1)).toBe(join(repoRoot, 'apps', 'order-store', 'src', 'main.ts'));
      expect(store.appDirPath.startsWith(outDir)).toBe(true);
    }
  });
});

test('dapr.yaml runs each app with no V8 heap flag: the Dockerfile is their one place', () => {
  const runFile = parse(readFileSync(join(repoRoot, 'dapr.yaml'), 'utf8')) as { apps: App[] };
  const heapFlags = (command: string[]) => command.filter((arg) => /^--max-.*-(size|percentage)=/.test(arg));
  for (const app of ['order-store', 'order-generator'] as const) {
    expect(heapFlags(imageStart(app).cmd)).not.toEqual([]);
    const command = runFile.apps.find((entry) => entry.appID === app)!.command;
    expect({ app, flags: heapFlags(command) }).toEqual({ app, flags: [] });
  }
});
