import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { topology } from '@orders/common';
import { parse, stringify } from 'yaml';

/** The part of a Dapr multi-app run file this project's dapr.yaml uses. */
interface RunFileApp {
  appID: string;
  appDirPath: string;
  appPort?: number;
  daprHTTPPort?: number;
  daprGRPCPort?: number;
  metricsPort?: number;
  command?: string[];
  [setting: string]: unknown;
}

interface RunFile {
  common?: { resourcesPath?: string; configFilePath?: string; [setting: string]: unknown };
  apps: RunFileApp[];
  [setting: string]: unknown;
}

/** Replica n (from 1) listens on each of the run file's ports plus n × this. */
export const REPLICA_PORT_STEP = 10;

export interface ReplicatedRunFile {
  /** The run file to pass to `dapr run -f`. */
  path: string;
  /** Each order-store replica's app port. */
  storePorts: number[];
}

/**
 * dapr.yaml with order-store as `replicas` apps under the one app id, as Kubernetes runs its
 * replicas: each with its own sidecar and ports, and its own directory for the CLI's log files
 * (which are named after the app id and the second they start, so replicas sharing a directory
 * would write one file). Every path is made absolute, since the CLI reads them relative to the
 * run file, which is written to `outDir`.
 */
export function replicatedRunFile(runFilePath: string, replicas: number, outDir: string): ReplicatedRunFile {
  const base = dirname(runFilePath);
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const runFile = parse(readFileSync(runFilePath, 'utf8')) as RunFile;
  const store = runFile.apps.find((app) => app.appID === topology.orderStore.appId);
  if (!store?.appPort || !store.daprHTTPPort || !store.daprGRPCPort || !store.metricsPort || !store.command) {
    throw new Error(`${runFilePath}: expected an ${topology.orderStore.appId} app with appPort, daprHTTPPort, daprGRPCPort, metricsPort and command`);
  }
  const storeDir = absolute(store.appDirPath);
  const storeReplicas = Array.from({ length: replicas }, (_, index): RunFileApp => {
    const offset = (index + 1) * REPLICA_PORT_STEP;
    const appDirPath = join(outDir, `${store.appID}-${index + 1}`);
    mkdirSync(appDirPath, { recursive: true });
    const appPort = store.appPort! + offset;
    return {
      ...store,
      appDirPath,
      appPort,
      // The CLI tells an app its port as APP_PORT; order-store reads PORT, whose default is the run file's port.
      env: { ...(store.env as Record<string, string> | undefined), PORT: String(appPort) },
      daprHTTPPort: store.daprHTTPPort! + offset,
      daprGRPCPort: store.daprGRPCPort! + offset,
      metricsPort: store.metricsPort! + offset,
      // Run from the replica's own directory, so the entry point is named by its full path.
      command: store.command!.map((arg) => (arg.endsWith('.ts') || arg.endsWith('.js') ? join(storeDir, arg) : arg)),
    };
  });
  const replicated: RunFile = {
    ...runFile,
    common: {
      ...runFile.common,
      ...(runFile.common?.resourcesPath ? { resourcesPath: absolute(runFile.common.resourcesPath) } : {}),
      ...(runFile.common?.configFilePath ? { configFilePath: absolute(runFile.common.configFilePath) } : {}),
    },
    apps: runFile.apps.flatMap((app) => (app === store ? storeReplicas : [{ ...app, appDirPath: absolute(app.appDirPath) }])),
  };
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, 'dapr.yaml');
  writeFileSync(path, `# Written by npm start from ${runFilePath} for ${replicas} order-store replicas; edits are overwritten.\n${stringify(replicated)}`);
  return { path, storePorts: storeReplicas.map((app) => app.appPort!) };
}
