import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DAPR_WATCHDOG_INTERVAL } from '../../../infra/cdk/lib/dapr-helm-values';
import { loadDeployDir } from '../../../infra/cdk/lib/manifests';
import { topology } from '../../../infra/cdk/lib/topology';
import { daprCrds } from '../../../infra/cdk/lib/dapr-control-plane';
import { kubeBinary } from '../../harness/kubernetes/binaries';
import { DAPR_NAMESPACE } from '../../harness/kubernetes/dapr';
import upgrade from '../../harness/kubernetes/dapr-upgrade.json';
import { chainsTo, newRootAndIssuer, pemCertificates, renewalScript } from '../../harness/kubernetes/mtls-renewal';
import { type PodStatus, isReady } from '../../harness/kubernetes/node';
import { OrdersOnNode } from '../../harness/kubernetes/orders-on-node';
import { longestGap } from '../../harness/ack-gap';
import { type StoredPod, flagValue, sidecarMismatches } from '../../harness/kubernetes/sidecar-expectations';
import { type LatestWatch } from '../../harness/latest-watch';
import { waitFor } from '../../../dev/src/processes';

// Day 2 operations of issue 29 on the node the kubelet suites share (harness/kubernetes/orders-on-node.ts),
// in the order a cluster meets them, all under the generator's load of 20 orders a second: a Dapr
// upgrade from the previous release (dapr-upgrade.json), installed as the CDK app installs it, to
// the pinned one, the way the CDK app upgrades (OrdersOnNode.upgradeDapr); then, on the pinned
// release, the operator's injector watchdog, and renewing the mTLS root and issuer as
// infra/cdk/README.md tells an operator to.

/** Pods as the API server returns them, with what these tests read beyond PodStatus. */
type Pod = PodStatus & { metadata: { deletionTimestamp?: string } };

/** daprd's internal gRPC port, where a sidecar serves its Sentry-issued certificate to other sidecars (mTLS). */
const SIDECAR_MTLS_PORT = 50002;

/**
 * How much later than one watchdog interval after the injector is Ready the Pod may go: the
 * watchdog's ticks run from the operator's start, not from the injector's return, so one interval
 * bounds the wait; the margin covers its list of Pods through the API server and the cache's lag.
 */
const WATCHDOG_MARGIN_MS = 10_000;
/** From the watchdog's delete to the replacement Ready with its sidecar: a start, daprd's identity, the apps' readiness probes. */
const REPLACEMENT_READY_MS = 60_000;
/** The longest the generator may go without an acknowledgement during the upgrade and the renewal, as during a rollout (issue 29). */
const MAX_ACK_GAP_MS = 1_000;
const to = topology.daprVersion;

describe('Day 2 on a real kubelet: a Dapr upgrade, the injector watchdog, and renewing the mTLS root and issuer at 20 orders a second', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orders-day2-'));
  const suite = new OrdersOnNode(dir);
  const figures: Record<string, number | string> = {};
  let watch: LatestWatch | undefined;

  const kubectl = (args: string[], input?: string) => suite.kubectl(args, input);
  const live = (pods: Pod[]) => pods.filter((pod) => !pod.metadata.deletionTimestamp);
  const appPods = async (app: string) => (await suite.pods(topology.namespace, `app.kubernetes.io/name=${app}`)) as Pod[];
  /** Waits until a Deployment of `orders` has exactly its replicas, all Ready, none terminating. */
  const awaitWhole = (app: string, replicas: number, timeoutMs: number) =>
    waitFor(`${replicas} Ready ${app} Pod(s) and no other`, async () => {
      const pods = await appPods(app);
      return pods.length === replicas && pods.every((pod) => isReady(pod) && !pod.metadata.deletionTimestamp);
    }, timeoutMs);
  /** The certificate chain a Pod's sidecar presents on its mTLS port, read with openssl from the node. */
  const servedChain = async (pod: Pod): Promise<X509Certificate[]> => {
    const { stdout } = await suite.inNode('sh', ['-c', `timeout 10 openssl s_client -connect ${pod.status.podIP}:${SIDECAR_MTLS_PORT} -alpn h2 -showcerts </dev/null 2>/dev/null; true`], { timeoutMs: 15_000 });
    return pemCertificates(stdout);
  };

  /** The version each running Dapr program says it is, as it logs at start (`Starting Dapr ... -- version X -- commit Y`), by Pod and container. */
  const reportedVersions = async (namespace: string, containers: (pod: Pod) => string[]): Promise<Record<string, string>> => {
    const found: Record<string, string> = {};
    for (const pod of (await suite.pods(namespace)) as Pod[]) {
      if (pod.metadata.deletionTimestamp) continue;
      for (const container of containers(pod)) {
        const { stdout } = await suite.kubectl(['logs', '--tail=-1', '-n', namespace, pod.metadata.name, '-c', container]);
        found[`${pod.metadata.name}/${container}`] = /-- version (\S+) -- commit/.exec(stdout)?.[1] ?? 'none logged';
      }
    }
    return found;
  };
  const controlPlaneVersions = () => reportedVersions(DAPR_NAMESPACE, (pod) => pod.spec.containers.map((container) => container.name));
  const sidecarVersions = () => reportedVersions(topology.namespace, () => ['daprd']);
  /** Which entries are not at `version`. */
  const notAt = (versions: Record<string, string>, version: string) => Object.entries(versions).filter(([, reported]) => reported !== version);

  beforeAll(async () => {
    await suite.start({ daprVersion: upgrade.from });
    watch = await suite.underLoad(20);
  }, 1_200_000);

  afterAll(async () => {
    await watch?.stop();
    expect(await suite.tearDown('day 2', figures)).toEqual({ leftovers: [], processes: [] });
  }, 300_000);

  test(`before the upgrade, the control plane and every sidecar run ${upgrade.from}`, async () => {
    const controlPlane = await controlPlaneVersions();
    const sidecars = await sidecarVersions();
    process.stdout.write(`before: ${JSON.stringify({ controlPlane, sidecars })}\n`);
    // Sentry, injector, operator, placement and the scheduler's three members; two stores and a generator.
    expect(Object.keys(controlPlane).length).toBeGreaterThanOrEqual(7);
    expect(Object.keys(sidecars)).toHaveLength(3);
    expect(notAt(controlPlane, upgrade.from)).toEqual([]);
    expect(notAt(sidecars, upgrade.from)).toEqual([]);
  }, 120_000);

  test(`the upgrade to ${to}: every CRD, control-plane program and sidecar at ${to}, no acknowledgement gap over ${MAX_ACK_GAP_MS} ms`, async () => {
    // What EKS nodes would pull as the new Pods are scheduled.
    await suite.importDaprImages(to);
    const from = Date.now();
    const { chartUpgradedAt } = await suite.timed(`upgrade ${upgrade.from} to ${to}`, () => suite.upgradeDapr(to));
    // A little past the end, so that a gap at the very end is measured whole.
    await new Promise((done) => setTimeout(done, 3_000));
    const acks = await suite.acknowledged();
    figures['control plane (CRDs, helm upgrade --wait): longest ack gap (ms)'] = longestGap(acks, from, chartUpgradedAt);
    figures['whole upgrade, sidecars rolled: longest ack gap (ms)'] = longestGap(acks, from, Date.now());
    figures['orders acknowledged during the upgrade'] = acks.filter((ack) => ack.at >= from).length;

    const controlPlane = await controlPlaneVersions();
    const sidecars = await sidecarVersions();
    process.stdout.write(`after: ${JSON.stringify({ controlPlane, sidecars })}\n`);
    expect(notAt(controlPlane, to)).toEqual([]);
    expect(notAt(sidecars, to)).toEqual([]);
    expect(Object.keys(sidecars)).toHaveLength(3);
    const appPods = (await suite.pods(topology.namespace)) as Pod[];
    expect(appPods.filter((pod) => !isReady(pod)).map((pod) => pod.metadata.name)).toEqual([]);
    expect(appPods).toHaveLength(3);

    // Every CRD is the one the CDK app applies for `to`, as kubectl apply recorded it. (The CRDs of
    // 1.18.1 and 1.18.2 are the same; the check holds the next pair of releases to it.)
    for (const crd of daprCrds(to)) {
      const live = await suite.kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(['get', 'crd', crd.metadata.name]);
      const applied = live.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
      expect(applied && (JSON.parse(applied) as unknown)).toEqual(crd);
    }

    expect(figures['whole upgrade, sidecars rolled: longest ack gap (ms)']).toBeLessThanOrEqual(MAX_ACK_GAP_MS);
  }, 900_000);

  test("with the injector away, a new order-store Pod starts without a sidecar; once it is back, the operator's watchdog replaces that Pod with one that has it", async () => {
    const intervalMs = durationMs(DAPR_WATCHDOG_INTERVAL);
    const injector = ['-n', DAPR_NAMESPACE, 'deployment/dapr-sidecar-injector'];
    await suite.timed('watchdog', async () => {
      const from = Date.now();
      await kubectl(['scale', ...injector, '--replicas=0']);
      await waitFor('the injector Pods to be gone', async () => (await suite.pods(DAPR_NAMESPACE, 'app=dapr-sidecar-injector')).length === 0, 120_000);
      // The chart's webhook ignores failures (webhookFailurePolicy Ignore): a Pod is admitted as it is.
      await waitFor('the webhook to fail open', async () => !(await dryRunContainers()).includes('daprd'), 60_000);

      const before = new Set((await appPods(topology.orderStore.appId)).map((pod) => pod.metadata.name));
      await kubectl(['scale', '-n', topology.namespace, `deployment/${topology.orderStore.appId}`, `--replicas=${before.size + 1}`]);
      let bare: Pod | undefined;
      await waitFor('the new order-store Pod to run', async () => {
        bare = (await appPods(topology.orderStore.appId)).find((pod) => !before.has(pod.metadata.name));
        return bare?.status.phase === 'Running';
      }, 120_000);
      const bareName = bare!.metadata.name;
      expect(bare!.spec.containers.map((c) => c.name)).toEqual([topology.orderStore.appId]);
      // Its app answers no readiness without a sidecar: the Pod takes no traffic.
      expect(isReady(bare!)).toBe(false);

      // The watchdog does nothing while the injector is away (it would only make another bare
      // Pod): a whole interval passes and the Pod is still there.
      await new Promise((done) => setTimeout(done, intervalMs + WATCHDOG_MARGIN_MS));
      const stillThere = (await appPods(topology.orderStore.appId)).find((pod) => pod.metadata.name === bareName);
      expect(stillThere?.metadata.deletionTimestamp).toBeUndefined();
      expect(stillThere).toBeDefined();

      const back = Date.now();
      await kubectl(['scale', ...injector, '--replicas=1']);
      let injectorReadyAt = 0;
      let deletedAt = 0;
      let replacement: Pod | undefined;
      const bareReplacements = new Set<string>();
      await waitFor('the watchdog to replace the Pod with one that has a sidecar, Ready', async () => {
        const now = Date.now();
        if (!injectorReadyAt) {
          const deployment = await suite.kubectlJson<{ status: { readyReplicas?: number } }>(['get', ...injector]);
          if ((deployment.status.readyReplicas ?? 0) >= 1) injectorReadyAt = now;
        }
        const pods = await appPods(topology.orderStore.appId);
        if (!deletedAt && !live(pods).some((pod) => pod.metadata.name === bareName)) deletedAt = now;
        for (const pod of pods) {
          if (before.has(pod.metadata.name) || pod.metadata.name === bareName) continue;
          if (!pod.spec.containers.some((c) => c.name === 'daprd')) bareReplacements.add(pod.metadata.name);
          else if (isReady(pod)) replacement = pod;
        }
        return replacement !== undefined;
      }, intervalMs + WATCHDOG_MARGIN_MS + REPLACEMENT_READY_MS + 60_000);
      const readyAt = Date.now();
      figures['watchdog: injector back to its Ready (ms)'] = injectorReadyAt - back;
      figures['watchdog: injector Ready to the bare Pod deleted (ms)'] = deletedAt - injectorReadyAt;
      figures['watchdog: injector back to the replacement Ready with a sidecar (ms)'] = readyAt - back;

      expect(injectorReadyAt).toBeGreaterThan(0);
      expect(deletedAt - injectorReadyAt).toBeLessThanOrEqual(intervalMs + WATCHDOG_MARGIN_MS);
      expect(readyAt - deletedAt).toBeLessThanOrEqual(REPLACEMENT_READY_MS);
      expect([...bareReplacements]).toEqual([]);
      const stored = await suite.kubectlJson<StoredPod>(['get', 'pod', replacement!.metadata.name, '-n', topology.namespace]);
      expect(sidecarMismatches(stored)).toEqual([]);
      // The operator, not anything else, deleted it: its watchdog says so.
      const { stdout: operatorLog } = await kubectl(['logs', '-n', DAPR_NAMESPACE, 'deployment/dapr-operator', '--tail=-1']);
      expect(operatorLog).toContain(`Pod ${topology.namespace}/${bareName} does not have the Dapr sidecar and will be deleted`);

      await kubectl(['scale', '-n', topology.namespace, `deployment/${topology.orderStore.appId}`, `--replicas=${before.size}`]);
      await awaitWhole(topology.orderStore.appId, before.size, 180_000);
      await new Promise((done) => setTimeout(done, 3_000));
      figures['watchdog: longest ack gap (ms)'] = longestGap(await suite.acknowledged(), from, Date.now());
    });
  }, 600_000);

  test("renewing the root and issuer as infra/cdk/README.md says, under load: no acknowledged order lost, and every sidecar ends on the new root's certificates", async () => {
    const trustBundle = await suite.kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'dapr-trust-bundle', '-n', DAPR_NAMESPACE]);
    const oldRoot = trustBundle.data['ca.crt'] as string;
    const sentry = await suite.kubectlJson<{ spec: { template: { spec: { containers: { args?: string[] }[] } } } }>(['get', 'deployment', 'dapr-sentry', '-n', DAPR_NAMESPACE]);
    // Sentry's own trust domain names its issuer; the apps' identities are in the one their
    // Configuration's access control names (deploy/configuration.yaml).
    const sentryTrustDomain = flagValue(sentry.spec.template.spec.containers[0]?.args ?? [], '--trust-domain') ?? 'cluster.local';
    const configuration = loadDeployDir().files.flatMap((file) => file.objects).find((o) => o.kind === 'Configuration');
    const appTrustDomain = (configuration?.spec as { accessControl?: { trustDomain?: string } } | undefined)?.accessControl?.trustDomain ?? 'public';

    /** Each live sidecar of both apps: its Pod, and whether the chain it serves leads to the new root, to the old one, through the new issuer. */
    const sidecars = async (renewal: { rootPem: string; issuerPem: string } | undefined) => {
      const pods = live([...await appPods(topology.orderStore.appId), ...await appPods(topology.orderGenerator.appId)]);
      return Promise.all(pods.map(async (pod) => {
        const chain = await servedChain(pod);
        return {
          pod: pod.metadata.name,
          id: chain[0]?.subjectAltName,
          oldRoot: chainsTo(chain, oldRoot),
          newRoot: renewal ? chainsTo(chain, renewal.rootPem) : false,
          newIssuer: renewal ? chain[1]?.fingerprint256 === new X509Certificate(renewal.issuerPem).fingerprint256 : false,
        };
      }));
    };
    // The check can tell: before the renewal every sidecar serves a chain to the root Sentry made.
    const before = await sidecars(undefined);
    expect(before.length).toBe(3);
    expect(before.filter((s) => !s.oldRoot)).toEqual([]);

    const renewal = await newRootAndIssuer(join(dir, 'renewal'), sentryTrustDomain, DAPR_NAMESPACE);
    const script = renewalScript();
    process.stdout.write(`renewal, as infra/cdk/README.md gives it:\n${script}\n`);
    const from = Date.now();
    await suite.timed('mTLS renewal (README script)', () => diagnosed(async () => {
      await suite.inNode('bash', ['-euo', 'pipefail', '-c', `cd '${renewal.dir}'\n${script}`], {
        timeoutMs: 1_200_000,
        env: { ...process.env, KUBECONFIG: suite.running.controlPlane.kubeconfig, PATH: `${dirname(kubeBinary('kubectl'))}:${process.env.PATH ?? ''}` },
      });
    }));
    await suite.timed('mTLS renewal to every app Pod replaced', () => diagnosed(async () => {
      await awaitWhole(topology.orderStore.appId, 2, 300_000);
      await awaitWhole(topology.orderGenerator.appId, 1, 300_000);
    }));
    // A little past the end, so that a gap at the very end is measured whole.
    await new Promise((done) => setTimeout(done, 3_000));
    figures['renewal: longest ack gap (ms)'] = longestGap(await suite.acknowledged(), from, Date.now());
    // Every pair of sidecars trusted each other throughout (the README's three steps): no stall.
    expect(figures['renewal: longest ack gap (ms)']).toBeLessThanOrEqual(MAX_ACK_GAP_MS);

    const after = await sidecars(renewal);
    process.stdout.write(`sidecars after the renewal: ${JSON.stringify(after)}\n`);
    expect(after.length).toBe(3);
    expect(after.filter((s) => !s.newRoot || !s.newIssuer || s.oldRoot)).toEqual([]);
    expect(after.map((s) => s.id).sort()).toEqual([
      `URI:spiffe://${appTrustDomain}/ns/${topology.namespace}/${topology.orderGenerator.appId}`,
      `URI:spiffe://${appTrustDomain}/ns/${topology.namespace}/${topology.orderStore.appId}`,
      `URI:spiffe://${appTrustDomain}/ns/${topology.namespace}/${topology.orderStore.appId}`,
    ]);
    // Sentry took the files as given, and made none of its own.
    const secret = await suite.kubectlJson<{ data: Record<string, string> }>(['get', 'secret', 'dapr-trust-bundle', '-n', DAPR_NAMESPACE]);
    expect(Buffer.from(secret.data['ca.crt'] as string, 'base64').toString()).toBe(renewal.rootPem);
    // Orders still flow end to end after it.
    const acked = (await suite.acknowledged()).length;
    await waitFor('orders acknowledged after the renewal', async () => (await suite.acknowledged()).length >= acked + 20, 60_000);
  }, 900_000);

  test('no acknowledged order was lost, the latest order never moved back, and no container restarted', async () => {
    await watch!.stop();
    const lost = await suite.lostOrders();
    figures['lost acknowledged orders'] = lost.length;
    expect(lost).toEqual([]);
    expect(watch!.wentBack).toEqual([]);
    expect(watch!.totalReads).toBeGreaterThan(10);
    expect(await suite.restartsAndKills()).toEqual([]);
  }, 120_000);

  /** A step whose failure also says, for each Pod of `orders` and `dapr-system` not Ready, how its containers are and how their logs end: what a stalled rollout shows. */
  async function diagnosed(step: () => Promise<void>): Promise<void> {
    await step().catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await podsNotReady()}`, { cause: error });
    });
  }

  async function podsNotReady(): Promise<string> {
    const lines: string[] = [];
    for (const namespace of [topology.namespace, DAPR_NAMESPACE]) {
      for (const pod of await suite.pods(namespace)) {
        if (isReady(pod)) continue;
        lines.push(`${namespace}/${pod.metadata.name}: ${JSON.stringify(pod.status.containerStatuses?.map((c) => ({ name: c.name, ready: c.ready, restarts: c.restartCount, waiting: c.state?.waiting?.reason })))}`);
        for (const container of pod.spec.containers) {
          const { stdout } = await kubectl(['logs', '--tail=5', '-n', namespace, pod.metadata.name, '-c', container.name]).catch((e: Error) => ({ stdout: e.message }));
          lines.push(`  ${container.name}: ${stdout.trim().split('\n').join('\n    ')}`);
        }
      }
    }
    return lines.join('\n');
  }

  /** The containers of a Dapr-enabled Pod the API server would admit now: a server-side dry run. */
  async function dryRunContainers(): Promise<string[]> {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'webhook-probe', namespace: 'default', annotations: { 'dapr.io/enabled': 'true', 'dapr.io/app-id': 'webhook-probe' } },
      spec: { containers: [{ name: 'app', image: 'registry.invalid/probe:1' }] },
    };
    const { stdout } = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(pod));
    return (JSON.parse(stdout) as StoredPod).spec.containers.map((container) => container.name);
  }
});

/** A Go duration of seconds or minutes, as the chart's watchInterval takes it ("30s", "2m"). */
function durationMs(duration: string): number {
  const match = /^(\d+)(s|m)$/.exec(duration);
  if (!match) throw new Error(`unsupported duration ${duration}`);
  return Number(match[1]) * (match[2] === 'm' ? 60_000 : 1_000);
}
