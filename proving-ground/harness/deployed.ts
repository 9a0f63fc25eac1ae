import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../harness/daprd';

interface EnvEntry {
  name: string;
  value?: string;
}

interface Container {
  name: string;
  env?: EnvEntry[];
  resources?: { limits?: { memory?: string } };
}

interface Deployment {
  kind: string;
  spec?: { template?: { spec?: { containers?: Container[] } } };
}

type DeployedApp = 'order-store' | 'order-generator';

// The bench starts each app many times in one run; its manifest is read once per checkout.
const readOnce = new Map<string, Record<string, string>>();

/**
 * The settings an app's container gets in deploy/<app>.yaml, those written as plain values
 * (secrets are left out): to run an app here as the cluster runs it, LOG_LEVEL included.
 * `root` is the checkout whose manifests to read.
 */
export function deployedEnv(app: DeployedApp, root = repoRoot): Record<string, string> {
  const file = join(root, 'deploy', `${app}.yaml`);
  let env = readOnce.get(file);
  if (!env) {
    env = readDeployedEnv(app, file);
    readOnce.set(file, env);
  }
  return { ...env };
}

/**
 * Settings that name cluster addresses or a Pod's own ports: whoever runs an app here says where
 * its spans go, and its metrics stay on its app port (several apps share this host's ports).
 */
const CLUSTER_ONLY = new Set(['OTEL_EXPORTER_OTLP_ENDPOINT', 'METRICS_PORT']);

function deployedContainer(app: DeployedApp, file: string): Container {
  const deployment = parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => doc.toJS() as Deployment | null)
    .find((object) => object?.kind === 'Deployment');
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === app);
  if (!container) throw new Error(`${file}: no Deployment with a container named ${app}`);
  return container;
}

/** The memory limit of the app's container in deploy/<app>.yaml, in MiB (the unit the bench reports RSS in). */
export function deployedMemoryLimitMib(app: DeployedApp, root = repoRoot): number {
  const file = join(root, 'deploy', `${app}.yaml`);
  const limit = deployedContainer(app, file).resources?.limits?.memory;
  const match = /^(\d+)(Mi|Gi)$/.exec(limit ?? '');
  if (!match) throw new Error(`${file}: ${app}'s memory limit is ${limit ?? 'unset'}; expected <n>Mi or <n>Gi`);
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

function readDeployedEnv(app: DeployedApp, file: string): Record<string, string> {
  const container = deployedContainer(app, file);
  const env: Record<string, string> = {};
  for (const { name, value } of container.env ?? []) if (value !== undefined && !CLUSTER_ONLY.has(name)) env[name] = value;
  return env;
}
