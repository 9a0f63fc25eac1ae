import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { HelmValues } from '../../../infra/cdk/lib/dapr-helm-values';
import type { K8sObject } from '../../../infra/cdk/lib/manifests';
import { daprBinary } from '../../../dev/src/dapr-binaries';
import { daprChartDir } from '../dapr-module';
import { type Proc, answers, awaitReady, freePort, waitFor } from '../../../dev/src/processes';
import { kubeBinary } from './binaries';
import { type ControlPlane, startPrivately } from './control-plane';

const run = promisify(execFile);

export const DAPR_NAMESPACE = 'dapr-system';
/** The host name in the certificate Sentry issues to the injector: its Service's. */
export const INJECTOR_HOST = `dapr-sidecar-injector.${DAPR_NAMESPACE}.svc`;

/**
 * Renders the pinned Dapr chart with `helm template`, as `helm install` would render it for the
 * CDK app: the same chart source (charts/dapr of the dapr/dapr module, which the published chart
 * of that version is packaged from) and the same values. The one addition is the image tag, which
 * the release packaging writes into the published chart's values and the source leaves at `edge`.
 */
/**
 * The CDK app's Dapr values for the test's one small node: without the control plane's resource
 * requests, which are sized for EKS nodes (dapr-helm-values.ts) and in HA ask for more CPU than a
 * 2-core test machine has; test/cdk/dapr-ha.test.ts checks the requests on the rendered chart.
 */
export function onTestNode(values: HelmValues): HelmValues {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => {
      if (typeof value !== 'object' || !('resources' in value)) return [key, value];
      const { resources: _sizedForEks, ...rest } = value;
      return [key, rest];
    }),
  );
}

export async function renderDaprChart(values: HelmValues, version: string, dir: string): Promise<K8sObject[]> {
  const valuesFile = join(dir, 'dapr-values.json');
  writeFileSync(valuesFile, JSON.stringify(values));
  const { stdout } = await run(
    kubeBinary('helm'),
    ['template', 'dapr', daprChartDir(version), '--namespace', DAPR_NAMESPACE, '--include-crds', '--values', valuesFile, '--set', `global.tag=${version}`],
    { maxBuffer: 64 * 1024 * 1024, env: helmEnv(dir) },
  );
  return parseObjects(stdout);
}

/** Renders a chart of this repository's with `helm template`, e.g. the CDK app's token chart. */
export async function renderChart(chartDir: string, release: string, namespace: string, values: unknown, dir: string): Promise<K8sObject[]> {
  const valuesFile = join(dir, `${release}-values.json`);
  writeFileSync(valuesFile, JSON.stringify(values));
  const { stdout } = await run(kubeBinary('helm'), ['template', release, chartDir, '--namespace', namespace, '--values', valuesFile], { env: helmEnv(dir) });
  return parseObjects(stdout);
}

/** Helm's cache, configuration and data in the test's directory, not the user's home. */
function helmEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, HELM_CACHE_HOME: join(dir, 'helm-cache'), HELM_CONFIG_HOME: join(dir, 'helm-config'), HELM_DATA_HOME: join(dir, 'helm-data') };
}

export function parseObjects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
    const value = doc.toJS() as K8sObject | null;
    return value ? [value] : [];
  });
}

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
}

/** The first container of a rendered Deployment, whose arguments and environment the tests run with. */
export function renderedContainer(objects: K8sObject[], deployment: string): Container {
  const found = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === deployment);
  const container = (found?.spec as { template: { spec: { containers: Container[] } } } | undefined)?.template.spec.containers[0];
  if (!container) throw new Error(`the rendered Dapr chart has no Deployment ${deployment}`);
  return container;
}

/**
 * A container's arguments with some flags replaced: each named flag is dropped, in either form
 * (`--flag value`, `--flag=value`), and given again with the new value. The rest stays as the chart
 * renders it.
 */
export function withFlags(args: string[], overrides: Record<string, string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    const name = arg.replace(/^--?/, '').split('=')[0] as string;
    if (arg.startsWith('-') && name in overrides) {
      if (!arg.includes('=') && i + 1 < args.length && !(args[i + 1] as string).startsWith('-')) i += 1;
      continue;
    }
    out.push(arg);
  }
  return [...out, ...Object.entries(overrides).map(([name, value]) => `--${name}=${value}`)];
}

/** The rendered container's environment as name=value, for those given as plain values. */
export function plainEnv(container: Container): Record<string, string> {
  return Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
}

export interface DaprOnKubernetes {
  sentry: Proc;
  injector: Proc;
  operator: Proc;
  /** https://dapr-sidecar-injector.dapr-system.svc:<port>/mutate */
  webhookUrl: string;
  stop(): Promise<void>;
}

export interface DaprOnKubernetesOptions {
  controlPlane: ControlPlane;
  /** The rendered chart, already applied (CRDs, RBAC, the daprsystem Configuration, the webhook). */
  chart: K8sObject[];
  /** The injector's port, already written into the webhook configuration's URL. */
  injectorPort: number;
  dir: string;
}

/**
 * Starts Dapr's Sentry, sidecar injector and operator, built from the same dapr/dapr module as daprd, against
 * the test API server, with the arguments and environment the rendered chart gives their
 * Deployments (so `dapr_sidecar_injector.sidecarDropALLCapabilities` reaches the injector as it
 * would on EKS). Only what a Pod would get from Kubernetes is replaced: ports on loopback, the
 * kubeconfig, the namespace, the trust anchors file, and the service-account token for Sentry.
 */
export async function startDaprOnKubernetes(options: DaprOnKubernetesOptions): Promise<DaprOnKubernetes> {
  const { controlPlane, chart, dir } = options;
  const started: Proc[] = [];
  const stop = async () => {
    for (const proc of [...started].reverse()) await proc.stop(10_000);
  };
  try {
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');

    const sentryPort = await freePort();
    const sentryHealthz = await freePort();
    const sentryContainer = renderedContainer(chart, 'dapr-sentry');
    const sentryCredentials = join(dir, 'sentry-credentials');
    mkdirSync(sentryCredentials, { recursive: true });
    const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
      ...process.env,
      NAMESPACE: DAPR_NAMESPACE,
      ...extra,
      // Dapr's control plane refuses to run as root in Kubernetes mode unless told this is on
      // purpose; in its Pods it runs as non-root.
      ...(process.getuid?.() === 0 ? { DAPR_UNSAFE_SKIP_CONTAINER_UID_GID_CHECK: 'true' } : {}),
    });
    const sentry = startPrivately(
      'sentry',
      { resolvConf },
      daprBinary('sentry'),
      withFlags(sentryContainer.args ?? [], {
        kubeconfig: controlPlane.kubeconfig,
        port: String(sentryPort),
        'listen-address': '127.0.0.1',
        'healthz-port': String(sentryHealthz),
        'healthz-listen-address': '127.0.0.1',
        'metrics-port': String(await freePort()),
        'issuer-credentials': sentryCredentials,
      }),
      env(plainEnv(sentryContainer)),
    );
    started.push(sentry);
    await awaitReady(sentry, 'sentry healthz', () => answers(`http://127.0.0.1:${sentryHealthz}/healthz`), 120_000);

    // Sentry writes the trust anchors it made into the dapr-trust-bundle ConfigMap; the injector's
    // Pod would have them mounted as a file.
    const trustAnchors = join(dir, 'trust-anchors.crt');
    await waitFor('the dapr-trust-bundle ConfigMap', async () => {
      const configMap = await controlPlane.kubectlJson<{ data?: Record<string, string> }>(['get', 'configmap', 'dapr-trust-bundle', '-n', DAPR_NAMESPACE]);
      const ca = configMap.data?.['ca.crt'];
      if (!ca) return false;
      writeFileSync(trustAnchors, ca);
      return true;
    }, 60_000, sentry);

    // Sentry admits a control-plane service by a token bound to its Pod; the controller-manager
    // created those Pods (never to run) from the chart's Deployments.
    const sentryAudience = `spiffe://${chartValue(chart, 'dapr-sentry', '--trust-domain')}/ns/${DAPR_NAMESPACE}/dapr-sentry`;
    /** Starts a control-plane service as its rendered Deployment would run, and waits for its healthz. */
    const startService = async (name: 'injector' | 'operator', deployment: string, flags: Record<string, string>, extraEnv: Record<string, string> = {}) => {
      const container = renderedContainer(chart, deployment);
      const podTemplate = chart.find((o) => o.kind === 'Deployment' && o.metadata.name === deployment)?.spec as {
        template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string } };
      };
      const tokenDir = join(dir, `${name}-token`);
      mkdirSync(tokenDir, { recursive: true });
      const pod = await podOf(controlPlane, `app=${podTemplate.template.metadata.labels.app}`);
      const { stdout: token } = await controlPlane.kubectl([
        'create', 'token', podTemplate.template.spec.serviceAccountName, '-n', DAPR_NAMESPACE, '--audience', sentryAudience,
        '--bound-object-kind', 'Pod', '--bound-object-name', pod, '--duration', '1h',
      ]);
      writeFileSync(join(tokenDir, 'token'), token.trim());
      const healthz = await freePort();
      const proc = startPrivately(
        name,
        { resolvConf, sentryTokenDir: tokenDir },
        kubeBinary(name),
        withFlags(container.args ?? [], {
          kubeconfig: controlPlane.kubeconfig,
          'listen-address': '127.0.0.1',
          'healthz-port': String(healthz),
          'healthz-listen-address': '127.0.0.1',
          'metrics-port': String(await freePort()),
          ...flags,
        }),
        env({ ...plainEnv(container), ...extraEnv }),
      );
      started.push(proc);
      await awaitReady(proc, `${name} healthz`, () => answers(`http://127.0.0.1:${healthz}/healthz`), 120_000);
      return proc;
    };

    // Ready means, in the injector's own terms (cmd/injector/app/app.go of dapr/dapr): it has a
    // serving certificate from Sentry, its server listens, and it has patched the webhook
    // configuration's caBundle. The chart's readinessProbe, and so `helm --wait`, read the same.
    const injector = await startService(
      'injector',
      'dapr-sidecar-injector',
      { port: String(options.injectorPort) },
      { DAPR_TRUST_ANCHORS_FILE: trustAnchors, DAPR_SENTRY_ADDRESS: `127.0.0.1:${sentryPort}` },
    );

    // The operator serves Components and Configurations to sidecars and makes each Dapr app's
    // `<app-id>-dapr` Service; ready once it watches every Dapr CRD through the API server. It
    // takes Sentry's address from the daprsystem Configuration, where the chart names Sentry's
    // Service; with no kube-proxy that name leads nowhere, so it gets the port.
    await controlPlane.kubectl([
      'patch', 'configuration.dapr.io', 'daprsystem', '-n', DAPR_NAMESPACE, '--type', 'merge',
      '-p', JSON.stringify({ spec: { mtls: { sentryAddress: `127.0.0.1:${sentryPort}` } } }),
    ]);
    const operator = await startService('operator', 'dapr-operator', {
      port: String(await freePort()),
      'webhook-server-port': String(await freePort()),
      'webhook-server-listen-address': '127.0.0.1',
      'trust-anchors-file': trustAnchors,
      // One operator: no lease to wait for.
      'disable-leader-election': 'true',
    });

    return { sentry, injector, operator, webhookUrl: injectorWebhookUrl(options.injectorPort), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function injectorWebhookUrl(port: number): string {
  return `https://${INJECTOR_HOST}:${port}/mutate`;
}

/**
 * The chart's MutatingWebhookConfiguration, pointed at a URL instead of the injector's Service:
 * with no kube-proxy, a Service has no address that leads anywhere. Everything else (rules,
 * failure policy, selectors, reinvocation) stays as rendered.
 */
export function webhookAtUrl(chart: K8sObject[], url: string): K8sObject {
  const rendered = chart.find((o) => o.kind === 'MutatingWebhookConfiguration');
  if (!rendered) throw new Error('the rendered Dapr chart has no MutatingWebhookConfiguration');
  const copy = structuredClone(rendered);
  for (const webhook of (copy as unknown as { webhooks: { clientConfig: Record<string, unknown> }[] }).webhooks) {
    webhook.clientConfig = { url };
  }
  return copy;
}

function chartValue(chart: K8sObject[], deployment: string, flag: string): string {
  const args = renderedContainer(chart, deployment).args ?? [];
  const index = args.indexOf(flag);
  const value = index >= 0 ? args[index + 1] : args.find((arg) => arg.startsWith(`${flag}=`))?.split('=')[1];
  if (!value) throw new Error(`the rendered ${deployment} has no ${flag}`);
  return value;
}

async function podOf(controlPlane: ControlPlane, selector: string): Promise<string> {
  let name = '';
  await waitFor(`a Pod ${selector} in ${DAPR_NAMESPACE}`, async () => {
    const pods = await controlPlane.kubectlJson<{ items: { metadata: { name: string } }[] }>(['get', 'pods', '-n', DAPR_NAMESPACE, '-l', selector]);
    name = pods.items[0]?.metadata.name ?? '';
    return name !== '';
  }, 60_000);
  return name;
}
