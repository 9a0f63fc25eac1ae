import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { daprHelmValues } from '../../../infra/cdk/lib/dapr-helm-values';
import { DEPLOY_DIR, type K8sObject, type ManifestFile, loadDeployDir, ordersManifests, tokenSecretsOf } from '../../../infra/cdk/lib/manifests';
import { COLLECTOR, COLLECTOR_EXPORT_COMPONENT, COLLECTOR_OTLP_ADDRESS, collectorManifests } from '../../../infra/cdk/lib/observability/collector-manifests';
import { topology } from '../../../infra/cdk/lib/topology';
import { unknownDaprAnnotations } from '../../harness/dapr-module';
import { builtVersion } from '../../harness/kubernetes/binaries';
import { type ControlPlane, startControlPlane } from '../../harness/kubernetes/control-plane';
import {
  DAPR_NAMESPACE,
  type DaprOnKubernetes,
  INJECTOR_HOST,
  injectorWebhookUrl,
  renderChart,
  renderDaprChart,
  startDaprOnKubernetes,
  webhookAtUrl,
} from '../../harness/kubernetes/dapr';
import { writeKustomization } from '../../harness/kubernetes/kustomization';
import { type StoredPod, sidecarMismatches } from '../../harness/kubernetes/sidecar-expectations';
import { freePort, runningProcesses, stopAll, waitFor } from '../../../dev/src/processes';

// deploy/ on a real kube-apiserver and kube-controller-manager of the version EKS runs for the CDK
// app, with the Dapr chart rendered from the CDK app's own Helm values and Dapr's real sidecar
// injector admitting the Pods. Nothing runs in the Pods (there is no kubelet): what is checked is
// what the API server accepted and stored.

/** The deployment the CDK app would make with its defaults; images as CDK's asset URIs look. */
const DEPLOYMENT = {
  images: {
    [topology.orderStore.appId]: '123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-hnb659fds-container-assets-123456789012-us-east-1:store',
    [topology.orderGenerator.appId]: '123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-hnb659fds-container-assets-123456789012-us-east-1:generator',
  },
  cacheEndpoint: 'orders-state-abc123.serverless.use1.cache.amazonaws.com:6379',
  allowedClientCidrs: ['203.0.113.0/24'],
  components: [COLLECTOR_EXPORT_COMPONENT],
};

interface PodList {
  items: StoredPod[];
}

describe('deploy/ on a real Kubernetes API server with Dapr sidecar injector', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orders-kube-'));
  let controlPlane: ControlPlane;
  let dapr: DaprOnKubernetes;
  const files: ManifestFile[] = ordersManifests(DEPLOYMENT);
  const objects = files.flatMap((file) => file.objects);
  /** What a Pod created while the injector did not answer yet looked like, and one created after. */
  const probes: { beforeInjector?: string[]; afterInjector?: string[] } = {};
  let applyWarnings = '';

  const kubectl = (args: string[], input?: string) => controlPlane.kubectl(args, input);
  const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
  const apply = (items: unknown[]) => kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], list(items));

  /** The containers of a Pod the API server admits now, without storing it: a server-side dry run. */
  const dryRunPod = async (namespace: string, annotations: Record<string, string>): Promise<string[]> => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'webhook-probe', namespace, annotations },
      spec: { containers: [{ name: 'app', image: 'registry.invalid/probe:1' }] },
    };
    const { stdout } = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(pod));
    return (JSON.parse(stdout) as StoredPod).spec.containers.map((container) => container.name);
  };

  beforeAll(async () => {
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${INJECTOR_HOST}\n`);
    controlPlane = await startControlPlane({ dir, hosts });

    // The Dapr control plane as the CDK app installs it: the pinned chart, the CDK app's values.
    const chart = await renderDaprChart(daprHelmValues({ highAvailability: false }), topology.daprVersion, dir);
    await kubectl(['create', 'namespace', DAPR_NAMESPACE]);
    await apply(chart.filter((o) => o.kind === 'CustomResourceDefinition'));
    await kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    const injectorPort = await freePort();
    await apply([
      ...chart.filter((o) => !['CustomResourceDefinition', 'MutatingWebhookConfiguration'].includes(o.kind)),
      webhookAtUrl(chart, injectorWebhookUrl(injectorPort)),
    ]);

    // The webhook is registered, but nothing answers it yet: what the chart's failure policy does
    // then. The API server loads webhook configurations on its own schedule, so first a copy that
    // fails closed shows it calls the URL (and so has loaded the chart's, created before it).
    const probeAnnotations = { 'dapr.io/enabled': 'true', 'dapr.io/app-id': 'webhook-probe' };
    const failClosed = webhookAtUrl(chart, injectorWebhookUrl(injectorPort)) as K8sObject & { webhooks: { name: string; failurePolicy: string }[] };
    failClosed.metadata = { name: 'webhook-probe' };
    for (const webhook of failClosed.webhooks) Object.assign(webhook, { name: 'probe.orders.test', failurePolicy: 'Fail' });
    await apply([failClosed]);
    await waitFor('the API server to call the unanswered webhook', () =>
      dryRunPod('default', probeAnnotations).then(() => false, (error: Error) => /failed calling webhook "probe\.orders\.test"/.test(error.message)),
    60_000);
    await kubectl(['delete', 'mutatingwebhookconfiguration', 'webhook-probe']);
    await waitFor('the API server to drop the fail-closed copy', () => dryRunPod('default', probeAnnotations).then(() => true, () => false), 60_000);
    probes.beforeInjector = await dryRunPod('default', probeAnnotations);

    dapr = await startDaprOnKubernetes({ controlPlane, chart, injectorPort, dir });
    // The injector's own readiness includes patching the webhook's caBundle; the API server then
    // picks the change up on its own schedule. Apply only once a Pod really gets its sidecar, as
    // the CDK app's `wait: true` on the chart makes EKS do.
    await waitFor('the API server to call the injector', async () => (await dryRunPod('default', probeAnnotations)).includes('daprd'), 60_000);
    probes.afterInjector = await dryRunPod('default', probeAnnotations);

    // deploy/ as the CDK app applies it: the namespace, the token Secrets from the CDK app's chart,
    // then `kubectl apply -k` of deploy/ with the CDK app's component and substitutions.
    await apply(objects.filter((o) => o.kind === 'Namespace'));
    const tokenChart = resolve(__dirname, '../../../infra/cdk/charts/order-store-tokens');
    const secrets = Object.values(tokenSecretsOf(objects, topology.orderStore.appId));
    await apply(await renderChart(tokenChart, 'order-store-tokens', topology.namespace, { secrets }, dir));
    const kustomization = join(dir, 'deploy');
    writeKustomization(kustomization, files);
    applyWarnings = (await kubectl(['apply', '-k', kustomization])).stderr;
    // Each step above has its own, shorter deadline; this one only bounds their sum on a busy machine.
  }, 600_000);

  afterAll(async () => {
    await dapr?.stop();
    await controlPlane?.stop();
    // Whatever a failed start left behind, before the check that nothing is.
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    expect(runningProcesses()).toEqual([]);
  });

  const replicasOf = (name: string) =>
    (objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)?.spec as { replicas: number }).replicas;
  const podsOf = async (name: string) =>
    (await controlPlane.kubectlJson<PodList>(['get', 'pods', '-n', topology.namespace, '-l', `app.kubernetes.io/name=${name}`])).items;

  /** Waits for a Deployment's Pods; on failure, says what the ReplicaSet controller was told. */
  const awaitPods = async (name: string, count: number) => {
    try {
      await waitFor(`${count} Pod(s) of ${name}`, async () => (await podsOf(name)).length === count, 90_000);
    } catch (error) {
      const events = await kubectl(['get', 'events', '-n', topology.namespace, '--field-selector', 'type=Warning', '-o', 'custom-columns=OBJECT:.involvedObject.name,MESSAGE:.message']);
      throw new Error(`${(error as Error).message}\nwarnings from the cluster:\n${events.stdout}`, { cause: error });
    }
    return podsOf(name);
  };

  test('the binaries are the pinned versions, the Kubernetes minor the one EKS runs for the CDK app', async () => {
    const versions = JSON.parse(readFileSync(resolve(__dirname, '../../../infra/cdk/kubernetes-versions.json'), 'utf8')) as { kubernetes: string };
    const { stdout } = await kubectl(['version', '-o', 'json']);
    expect((JSON.parse(stdout) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion).toBe(`v${versions.kubernetes}`);
    expect(builtVersion('injector')).toBe(topology.daprVersion);
  });

  test('before the injector answers, the chart lets Pods through without a sidecar; after, it injects daprd', () => {
    // webhookFailurePolicy: Ignore in the chart. This is why the CDK app applies the workloads only
    // after `helm --wait` has seen the injector ready.
    expect(probes.beforeInjector).toEqual(['app']);
    expect(probes.afterInjector).toEqual(['app', 'daprd']);
  });

  test("kubectl's kustomize builds deploy/ alone with no name of the collector, and with the component what the CDK app reads", async () => {
    /** Objects by kind and name; container images left out (kustomize's `images` rewrites them, the CDK app substitutes its own). */
    const byName = (list: K8sObject[]) => Object.fromEntries(list.map((object) => {
      const copy = structuredClone(object);
      for (const container of (copy.spec as { template?: { spec: { containers: { image?: string }[] } } } | undefined)?.template?.spec.containers ?? []) delete container.image;
      return [`${copy.kind}/${copy.metadata.name}`, copy];
    }));
    const build = async (kustomization: string) => parseAllDocuments((await kubectl(['kustomize', kustomization])).stdout).map((doc) => doc.toJS() as K8sObject);
    const plain = await build(DEPLOY_DIR);
    // The collector's address, not its name: network-policies.yaml selects its Pods by label, which
    // names nothing that must exist.
    expect(JSON.stringify(plain)).not.toContain(COLLECTOR_OTLP_ADDRESS);
    expect(byName(plain)).toEqual(byName(loadDeployDir().files.flatMap((file) => file.objects)));
    // The overlay the component's header shows a user.
    const overlay = join(dir, 'overlay');
    mkdirSync(overlay);
    writeFileSync(join(overlay, 'kustomization.yaml'), stringify({
      resources: [relative(overlay, DEPLOY_DIR)],
      components: [relative(overlay, join(DEPLOY_DIR, COLLECTOR_EXPORT_COMPONENT))],
    }));
    const withExport = await build(overlay);
    expect(JSON.stringify(withExport)).toContain(COLLECTOR_OTLP_ADDRESS);
    expect(byName(withExport)).toEqual(byName(loadDeployDir(DEPLOY_DIR, [COLLECTOR_EXPORT_COMPONENT]).files.flatMap((file) => file.objects)));
  });

  test('every object of deploy/ was accepted and stored, with no Pod Security warning', async () => {
    const { stdout } = await kubectl(['get', '-k', join(dir, 'deploy'), '-o', 'name']);
    expect(stdout.trim().split('\n')).toHaveLength(objects.length);
    expect(applyWarnings).not.toMatch(/PodSecurity/);
  });

  test.each([topology.orderStore.appId, topology.orderGenerator.appId])(
    "%s: every replica's Pod was admitted under the namespace's enforced Pod Security level, with daprd as the annotations ask",
    async (name) => {
      const namespace = await controlPlane.kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'namespace', topology.namespace]);
      expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
      const pods = await awaitPods(name, replicasOf(name));
      for (const pod of pods) {
        expect(sidecarMismatches(pod)).toEqual([]);
        const daprd = pod.spec.containers.find((c) => c.name === 'daprd');
        // What the CDK app's Helm values ask of every sidecar.
        expect(daprd?.securityContext).toMatchObject({
          capabilities: { drop: ['ALL'] },
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
        });
      }
    },
  );

  test("the OpenTelemetry collector the CDK app adds is accepted, and its Pod admitted under the namespace's restricted level", async () => {
    const collector = collectorManifests({ region: 'us-east-1', metricsLogGroupName: '/orders/orders/metrics' });
    const { stderr } = await apply(collector);
    expect(stderr).not.toMatch(/PodSecurity/);
    const [pod] = await awaitPods(COLLECTOR.name, 1);
    expect(pod!.spec.containers.map((c) => c.name)).toEqual(['collector']);
    // The same Pod allowed to escalate privileges is refused: the check above can fail.
    const copy = structuredClone(pod) as unknown as { metadata: Record<string, unknown>; spec: { containers: Array<{ securityContext?: Record<string, unknown> }> } };
    copy.metadata = { name: 'collector-escalating', namespace: topology.namespace };
    copy.spec.containers[0]!.securityContext = { ...copy.spec.containers[0]!.securityContext, allowPrivilegeEscalation: true };
    await expect(kubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...copy }))).rejects.toThrow(
      /violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/,
    );
  });

  test('the same Pod with the sidecar keeping its capabilities is refused by Pod Security admission', async () => {
    const [pod] = await awaitPods(topology.orderStore.appId, replicasOf(topology.orderStore.appId));
    const copy = structuredClone(pod) as unknown as { metadata: Record<string, unknown>; spec: { containers: StoredPod['spec']['containers'] } };
    copy.metadata = { name: 'capabilities-kept', namespace: topology.namespace, annotations: {} };
    const daprd = copy.spec.containers.find((c) => c.name === 'daprd');
    if (daprd?.securityContext) delete daprd.securityContext.capabilities;
    await expect(kubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...copy }))).rejects.toThrow(
      /violates PodSecurity "restricted:latest": unrestricted capabilities \(container "daprd"/,
    );
  });

  test('a misspelt Dapr annotation is ignored by the real injector, and caught by our check', async () => {
    const store = structuredClone(objects.find((o) => o.kind === 'Deployment' && o.metadata.name === topology.orderStore.appId) as K8sObject);
    const typo = 'order-store-typo';
    store.metadata.name = typo;
    const spec = store.spec as { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } };
    spec.replicas = 1;
    spec.selector.matchLabels = { 'app.kubernetes.io/name': typo };
    spec.template.metadata.labels = { 'app.kubernetes.io/name': typo };
    const { 'dapr.io/app-port': appPort, ...rest } = spec.template.metadata.annotations;
    spec.template.metadata.annotations = { ...rest, 'dapr.io/app-prot': appPort as string };
    expect(unknownDaprAnnotations(spec.template.metadata.annotations)).toEqual(['dapr.io/app-prot']);

    await apply([store]);
    const [pod] = await awaitPods(typo, 1);
    // The injector took the Pod and made a sidecar with no app port at all.
    expect(pod?.spec.containers.map((c) => c.name)).toEqual(['order-store', 'daprd']);
    expect(sidecarMismatches(pod as StoredPod)).toEqual([`${pod?.metadata.name}: annotation dapr.io/app-prot is not one the injector reads`]);
    expect(pod?.spec.containers.find((c) => c.name === 'daprd')?.args).not.toContain('--app-port');
    await kubectl(['delete', 'deployment', typo, '-n', topology.namespace, '--wait=false']);
  });

  test('the Component, Configuration and Resiliency were accepted by the real CRDs as written, and a misspelt field is refused', async () => {
    for (const kind of ['Component', 'Configuration', 'Resiliency']) {
      const written = objects.find((o) => o.kind === kind) as K8sObject;
      const stored = await controlPlane.kubectlJson<K8sObject>(['get', `${kind.toLowerCase()}.dapr.io`, written.metadata.name, '-n', topology.namespace]);
      // Nothing pruned: every field deploy/ sets is one the CRD declares (the CRD may add defaults).
      expect(stored.spec).toMatchObject(written.spec as Record<string, unknown>);
      if (written.scopes) expect(stored.scopes).toEqual(written.scopes);
    }
    const configuration = structuredClone(objects.find((o) => o.kind === 'Configuration') as K8sObject);
    const spec = configuration.spec as Record<string, unknown>;
    spec.accesControl = spec.accessControl;
    delete spec.accessControl;
    await expect(kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(configuration))).rejects.toThrow(/unknown field "spec.accesControl"/);
  });

  test("Dapr's operator, watching the real API server, made each app's -dapr Service for its sidecar", async () => {
    for (const app of [topology.orderStore.appId, topology.orderGenerator.appId]) {
      await waitFor(`Service ${app}-dapr`, async () =>
        (await kubectl(['get', 'service', `${app}-dapr`, '-n', topology.namespace, '--ignore-not-found', '-o', 'name'])).stdout.trim() !== '',
      60_000, dapr.operator);
    }
  });

  test('the Service is Auto Mode\'s NLB class, with the CDK app\'s client CIDRs; the PDB and ServiceAccounts are stored', async () => {
    const service = await controlPlane.kubectlJson<{ spec: Record<string, unknown> }>(['get', 'service', topology.orderStore.appId, '-n', topology.namespace]);
    expect(service.spec).toMatchObject({
      type: 'LoadBalancer',
      loadBalancerClass: 'eks.amazonaws.com/nlb',
      loadBalancerSourceRanges: DEPLOYMENT.allowedClientCidrs,
    });
    const pdb = await controlPlane.kubectlJson<{ spec: Record<string, unknown> }>(['get', 'pdb', topology.orderStore.appId, '-n', topology.namespace]);
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    for (const app of [topology.orderStore.appId, topology.orderGenerator.appId]) {
      const pods = await podsOf(app);
      expect(pods.length).toBeGreaterThan(0);
      for (const pod of pods) expect((pod.spec as { serviceAccountName?: string }).serviceAccountName).toBe(app);
    }
  });
});
