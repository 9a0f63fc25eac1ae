import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { daprHelmValues } from '../../../infra/cdk/lib/dapr-helm-values';
import { type K8sObject, loadDeployDir } from '../../../infra/cdk/lib/manifests';
import { topology } from '../../../infra/cdk/lib/topology';
import { daprChartDir } from '../../harness/dapr-module';
import { kubeBinary } from '../../harness/kubernetes/binaries';
import { DAPR_NAMESPACE, onTestNode, renderDaprChart } from '../../harness/kubernetes/dapr';
import { imageBuilder } from '../../harness/kubernetes/images';
import { headerCommands, userCopyOfDeploy } from '../../harness/kubernetes/kustomization';
import { provisionLocalVolumes } from '../../harness/kubernetes/local-volumes';
import { ExecError } from '../../harness/kubernetes/netns';
import { type ProbeResults, type ProbeTarget, probeFrom, probePod } from '../../harness/kubernetes/network-probe';
import { type KubeletNode, type PodStatus, awaitPodsReady, isReady, startKubeletNode } from '../../harness/kubernetes/node';
import { appImage, corednsImage, daprImages, nodeBaseImage, pauseImage } from '../../harness/kubernetes/node-images';
import { type Latest, LatestWatch } from '../../harness/latest-watch';
import { type Proc, runningProcesses, startProcess, stopAll, waitFor } from '../../../dev/src/processes';
import { CACHE_PORT, type RedisTlsCluster, startRedisTlsCluster } from '../../harness/redis-cluster';

// deploy/ on a real node: kubelet, containerd and runc run the Pods, the Dapr control plane is the
// pinned chart installed by helm with the CDK app's values, the apps' images are built from their
// Dockerfiles, and the cache is a TLS Redis Cluster standing in for ElastiCache Serverless. All of
// it lives in a network namespace the test creates, with no way out (harness/kubernetes/node.ts).
// deploy/'s NetworkPolicies are enforced throughout (kube-router's network policy controller).

/** daprd's internal gRPC port (service invocation; dapr/pkg/injector/consts), which deploy/ opens to order-generator only. */
const SIDECAR_INTERNAL_PORT = 50002;

/** The app images as deploy/ gets them substituted: names no registry serves, so nothing can be pulled. */
const STORE_IMAGE = 'localhost/orders-test/order-store:dev';
const GENERATOR_IMAGE = 'localhost/orders-test/order-generator:dev';
const APP_IMAGES: Record<string, string> = { [topology.orderStore.appId]: STORE_IMAGE, [topology.orderGenerator.appId]: GENERATOR_IMAGE };

describe('deploy/ on a real kubelet, with the Dapr chart installed by helm and the apps built from their Dockerfiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orders-node-'));
  let node: KubeletNode | undefined;
  let cache: RedisTlsCluster | undefined;
  let volumes: ReturnType<typeof provisionLocalVolumes> | undefined;
  const timings: Record<string, number> = {};
  let leftovers: string[] = [];
  /** When the suite first saw Sentry answer through its ClusterIP (ms since the epoch). */
  let sentryRoutedAt = 0;

  const kubectl = (args: string[], input?: string) => {
    if (!node) throw new Error('the node did not start');
    return node.controlPlane.kubectl(args, input);
  };
  const inNode = (command: string, args: string[], options?: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }) => {
    if (!node) throw new Error('the node did not start');
    return node.network.exec(command, args, options);
  };
  const helm = (args: string[]) =>
    inNode(kubeBinary('helm'), args, {
      timeoutMs: 300_000,
      env: {
        ...process.env,
        KUBECONFIG: node?.controlPlane.kubeconfig,
        HELM_CACHE_HOME: join(dir, 'helm-cache'),
        HELM_CONFIG_HOME: join(dir, 'helm-config'),
        HELM_DATA_HOME: join(dir, 'helm-data'),
      },
    });
  const pods = async (namespace: string) => (await node!.controlPlane.kubectlJson<{ items: PodStatus[] }>(['get', 'pods', '-n', namespace])).items;
  const timed = async <T>(label: string, step: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await step();
    } finally {
      timings[label] = Date.now() - started;
    }
  };

  const awaitReady = (namespace: string, count: number, timeoutMs: number) => awaitPodsReady(node!.controlPlane, namespace, count, timeoutMs);

  beforeAll(async () => {
    const builder = imageBuilder(join(dir, 'images'));
    const nodeArchives = await timed('pause and CoreDNS images', async () => [await pauseImage(builder, dir), await corednsImage(builder, dir)]);
    // The apps' builds and the node's start share nothing until the import: side by side.
    const appBuilds = timed('app images (buildah, Dockerfiles)', async () => {
      const nodeImage = await nodeBaseImage(builder, dir);
      return [
        await appImage(builder, dir, 'order-store', STORE_IMAGE, nodeImage, join(homedir(), '.npm')),
        await appImage(builder, dir, 'order-generator', GENERATOR_IMAGE, nodeImage, join(homedir(), '.npm')),
      ];
    });
    const nodeStart = timed('node up (netns, containerd, control plane, kubelet, kube-proxy, CoreDNS)', () =>
      startKubeletNode({ dir: join(dir, 'node'), images: nodeArchives }).then((started) => (node = started)),
    );
    // Both settle before either's failure is reported, so that afterAll finds the node to stop.
    const [apps, started] = await Promise.allSettled([appBuilds, nodeStart]);
    if (apps.status === 'rejected') throw apps.reason;
    if (started.status === 'rejected') throw started.reason;
    await node!.importImages(apps.value);

    cache = await timed('cache stand-in', () => startRedisTlsCluster({ network: node!.network }));

    // The Dapr control plane as the CDK app installs it: the pinned chart, the CDK app's values,
    // helm install --wait (dapr-control-plane.ts).
    const values = onTestNode(daprHelmValues({ highAvailability: false }));
    const chart = await renderDaprChart(values, topology.daprVersion, dir);
    const daprRefs = daprImageRefs(chart);
    await timed('Dapr images', async () => node!.importImages(await daprImages(builder, dir, daprRefs, cache!.caPath)));
    builder.remove();
    const present = await node!.images();
    const wanted = [...daprRefs, ...Object.values(APP_IMAGES)];
    expect(wanted.filter((ref) => !present.includes(ref))).toEqual([]);

    const valuesFile = join(dir, 'dapr-values.json');
    writeFileSync(valuesFile, JSON.stringify(values));
    // The scheduler's members keep their etcd on volumes, HA or not (dapr-helm-values.ts): the
    // node's stand-in provisioner serves their claims for the whole suite.
    volumes = provisionLocalVolumes(node!.controlPlane, join(dir, 'volumes'));
    await timed('helm install dapr --wait', () =>
      helm(['install', 'dapr', daprChartDir(), '--namespace', DAPR_NAMESPACE, '--create-namespace', '--values', valuesFile, '--set', `global.tag=${topology.daprVersion}`, '--wait', '--timeout', '240s']),
    );

    // helm's --wait sees Sentry's Pod Ready before kube-proxy routes its Service: a daprd started
    // in that window exits on `connection refused` and kubelet restarts it once (found here, in
    // 2 of 6 runs). The suite waits for the route, so that a restart it counts is a fault of the run:
    // curl's exit code says whether a TLS server answered (any code but 7, refused, and 28, timed out).
    const sentryService = await node!.controlPlane.kubectlJson<{ spec: { clusterIP: string } }>(['get', 'service', 'dapr-sentry', '-n', DAPR_NAMESPACE]);
    await waitFor('dapr-sentry reachable through its ClusterIP', () =>
      inNode('curl', ['-sk', '-o', '/dev/null', '-m', '2', `https://${sentryService.spec.clusterIP}:443/`], { timeoutMs: 5_000 }).then(
        () => true,
        (error: unknown) => {
          const curlExit = error instanceof ExecError ? error.exitCode : undefined;
          return curlExit !== undefined && curlExit !== 7 && curlExit !== 28;
        },
      ),
    60_000);
    sentryRoutedAt = Date.now();

    // deploy/ as its kustomization's header tells a user: the namespace, the two token Secrets,
    // then `kubectl apply -k deploy/`, on a copy whose images and redisHost alone are changed.
    const deployCopy = join(dir, 'deploy');
    userCopyOfDeploy(deployCopy, APP_IMAGES, cache.address);
    const commands = headerCommands(deployCopy, { REDIS_PASSWORD: cache.client.password });
    expect(commands.map((args) => args.slice(0, 2).join(' '))).toEqual(['create namespace', '-n orders', '-n orders', '-n orders', 'apply -k']);
    for (const args of commands) await kubectl(args);
    const objects = loadDeployDir().files.flatMap((file) => file.objects);
    await timed('deploy/ Pods Ready', () => awaitReady(topology.namespace, replicasIn(objects), 240_000));
  }, 900_000);

  afterAll(async () => {
    await volumes?.stop();
    await node?.stop();
    await cache?.stop();
    leftovers = node?.leftovers() ?? [];
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`node suite timings (ms): ${JSON.stringify(timings)}\n`);
    expect(leftovers).toEqual([]);
    expect(runningProcesses()).toEqual([]);
  }, 300_000);

  const storePods = async () => (await pods(topology.namespace)).filter((pod) => pod.metadata.labels?.['app.kubernetes.io/name'] === topology.orderStore.appId);
  /** The generator's `order accepted` lines: what it was told was stored, and when. */
  const acknowledged = async (): Promise<{ orderId: string; at: number }[]> => {
    const { stdout } = await kubectl(['logs', '-n', topology.namespace, '-l', `app.kubernetes.io/name=${topology.orderGenerator.appId}`, '-c', topology.orderGenerator.appId, '--tail=-1']);
    return stdout.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      const event = JSON.parse(line) as { msg?: string; orderId?: string; time?: string };
      return event.msg === 'order accepted' && event.orderId && event.time ? [{ orderId: event.orderId, at: Date.parse(event.time) }] : [];
    });
  };
  /** Every order key in the cache: a SCAN of each node (a cluster's keys are spread over them). */
  const storedOrderIds = async (): Promise<Set<string>> => {
    const prefix = `${topology.orderStore.appId}||order:`;
    const ids = new Set<string>();
    for (const primary of cache!.primaries) {
      const out = await cache!.cli(primary, ['--scan', '--pattern', `${prefix}*`], 60_000);
      for (const key of out.split('\n').filter(Boolean)) ids.add(key.slice(prefix.length));
    }
    return ids;
  };
  const nodePortUrl = async () => {
    const service = await node!.controlPlane.kubectlJson<{ spec: { ports: { nodePort?: number }[] } }>(['get', 'service', topology.orderStore.appId, '-n', topology.namespace]);
    const port = service.spec.ports[0]?.nodePort;
    if (!port) throw new Error(`Service ${topology.orderStore.appId} has no NodePort`);
    return `http://${node!.network.address}:${port}`;
  };
  /** curl inside the node's namespace: the stand-in for a client behind the NLB. Resolves with status and body. */
  const curl = async (args: string[]): Promise<{ status: number; body: string }> => {
    const { stdout } = await inNode('curl', ['-sS', '-m', '5', '-w', '\n%{http_code}', ...args], { timeoutMs: 10_000 });
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  };
  /** Every container that restarted or was killed, with the end of its previous run's log to say why. */
  const restartsAndKills = async (): Promise<string[]> => {
    const found: string[] = [];
    // When the chart created the Configuration Sentry and the operator read at start; asked once, and only if one of them restarted.
    let daprsystemCreatedAt: string | undefined;
    const configurationCreatedAt = async () =>
      (daprsystemCreatedAt ??= (await node!.controlPlane.kubectlJson<{ metadata: { creationTimestamp: string } }>(['get', 'configurations.dapr.io', 'daprsystem', '-n', DAPR_NAMESPACE])).metadata.creationTimestamp);
    for (const namespace of [topology.namespace, DAPR_NAMESPACE, 'kube-system']) {
      for (const pod of await pods(namespace)) {
        for (const container of pod.status.containerStatuses ?? []) {
          const last = container.lastState?.terminated;
          if (container.restartCount === 0 && !last) continue;
          const previous = await kubectl(['logs', '--previous', '--tail=8', '-n', namespace, pod.metadata.name, '-c', container.name]).catch((error: Error) => ({ stdout: error.message }));
          if (namespace === DAPR_NAMESPACE && last?.finishedAt && isChartInstallOrder(previous.stdout, Date.parse(last.finishedAt), { daprsystemCreatedAt: Date.parse(await configurationCreatedAt()), sentryRoutedAt })) continue;
          if (namespace === topology.namespace && container.name === 'daprd' && container.restartCount === 1 && isSentryNotYetRouted(previous.stdout)) {
            process.stdout.write(`passed over: ${pod.metadata.name} daprd restarted once, Sentry's ClusterIP refused its first start\n`);
            continue;
          }
          found.push(`${namespace}/${pod.metadata.name} ${container.name}: ${container.restartCount} restart(s), last ${last?.reason ?? '?'} (exit ${last?.exitCode ?? '?'}):\n${previous.stdout}`);
        }
      }
    }
    return found;
  };
  const writeToken = async () => {
    const secret = await node!.controlPlane.kubectlJson<{ data: { token: string } }>(['get', 'secret', 'order-store-write-token', '-n', topology.namespace]);
    return Buffer.from(secret.data.token, 'base64').toString();
  };

  test('every Pod is Ready, with no restart and no OOM kill', async () => {
    expect(await restartsAndKills()).toEqual([]);
    for (const namespace of [topology.namespace, DAPR_NAMESPACE, 'kube-system']) {
      expect((await pods(namespace)).filter((pod) => !isReady(pod)).map((pod) => pod.metadata.name)).toEqual([]);
    }
  });

  test('the namespace enforces restricted, and every container runs with the limits deploy/ and its annotations set', async () => {
    const namespace = await node!.controlPlane.kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'namespace', topology.namespace]);
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const [store] = await storePods();
    const limits = Object.fromEntries((store?.spec.containers ?? []).map((c) => [c.name, c.resources?.limits]));
    expect(limits).toEqual({ [topology.orderStore.appId]: { cpu: '500m', memory: '512Mi' }, daprd: { cpu: '500m', memory: '256Mi' } });
  });

  test("the generator's orders reach Redis through both sidecars, over mTLS, by cluster DNS; every acknowledged one is stored", async () => {
    await waitFor('20 acknowledged orders', async () => (await acknowledged()).length >= 20, 120_000);
    const acks = await acknowledged();
    const stored = await storedOrderIds();
    expect(acks.filter((ack) => !stored.has(ack.orderId))).toEqual([]);
    // Access control (deploy/configuration.yaml) admits POST /neworder only from the SPIFFE id
    // in the caller's mTLS certificate, which only Sentry issues: an accepted order is one the
    // store's sidecar took from order-generator's, identified by Sentry's certificate.
    const sentry = (await pods(DAPR_NAMESPACE)).find((pod) => pod.metadata.labels?.app === 'dapr-sentry');
    const metrics = await node!.controlPlane.get(`/api/v1/namespaces/${DAPR_NAMESPACE}/pods/${sentry?.metadata.name}:9090/proxy/metrics`);
    const signed = [...metrics.matchAll(/^dapr_sentry_cert_sign_success_total\S*\s+(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    // Two order-store sidecars and one of order-generator at least.
    expect(signed).toBeGreaterThanOrEqual(3);
    // The sidecars find each other through the operator's <app-id>-dapr Service, by its cluster name.
    const { stdout } = await kubectl(['exec', '-n', topology.namespace, `deployment/${topology.orderGenerator.appId}`, '-c', topology.orderGenerator.appId, '--',
      'node', '-e', `require('dns').promises.lookup('${topology.orderStore.appId}-dapr.${topology.namespace}.svc.cluster.local', { all: true }).then((a) => console.log(JSON.stringify(a)))`]);
    const addresses = (JSON.parse(stdout) as { address: string }[]).map((a) => a.address).sort();
    expect(addresses).toEqual((await storePods()).map((pod) => pod.status.podIP).sort());
  });

  test("through order-store's NodePort: POST /neworder is 201 with the write token and 401 without; GET /order and /orders/:id read it back", async () => {
    const url = await nodePortUrl();
    const order = { orderId: `nodeport-${Date.now()}`, items: [{ sku: 'rye-bread', quantity: 1, unitPrice: 3.2 }], total: 3.2 };
    const post = ['-H', 'content-type: application/json', '-X', 'POST', '--data', JSON.stringify({ data: order })];
    expect((await curl([...post, `${url}/neworder`])).status).toBe(401);
    expect((await curl([...post, '-H', `authorization: Bearer ${await writeToken()}`, `${url}/neworder`])).status).toBe(201);
    const byId = await curl([`${url}/orders/${order.orderId}`]);
    expect({ status: byId.status, order: JSON.parse(byId.body) as unknown }).toMatchObject({ status: 200, order: { orderId: order.orderId, total: 3.2 } });
    // The generator keeps writing newer orders: GET /order gives this one or a later one.
    const latest = await curl([`${url}/order`]);
    expect(latest.status).toBe(200);
    expect(JSON.parse(latest.body) as unknown).toMatchObject({ orderId: expect.any(String) as unknown, acceptedAt: expect.any(String) as unknown });
  });

  describe("deploy/'s NetworkPolicies, enforced: a Pod no allow selects reaches neither the store's sidecar, its app port nor the cache", () => {
    // In orders, labelled so that no allow of deploy/network-policies.yaml selects it (default-deny
    // and DNS alone apply); and one in `default`, where no policy applies to it at all.
    const INTRUDER = 'intruder';
    const OUTSIDER = 'outsider';
    const ALLOW_PROBES = ['intruder-probes-out', 'intruder-probes-into-order-store'];
    let targets: ProbeTarget[] = [];
    let acknowledgedBefore = 0;
    const names = () => targets.map((target) => target.name);
    const probe = (namespace: string, pod: string, only?: ProbeTarget[]) => probeFrom(node!.controlPlane, namespace, pod, only ?? targets);
    const connected = (results: ProbeResults) => Object.keys(results).filter((name) => results[name] === 'connected').sort();
    /** Exactly the intruder's probes, allowed both ways: its egress, and ingress into order-store (the cache is no Pod: egress alone). */
    const allowProbes = () => [
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: ALLOW_PROBES[0], namespace: topology.namespace },
        spec: {
          podSelector: { matchLabels: { 'app.kubernetes.io/name': INTRUDER } },
          policyTypes: ['Egress'],
          egress: [
            { to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': topology.orderStore.appId } } }], ports: [{ protocol: 'TCP', port: SIDECAR_INTERNAL_PORT }, { protocol: 'TCP', port: topology.orderStore.port }] },
            { to: cache!.primaries.map((primary) => ({ ipBlock: { cidr: `${primary.host}/32` } })), ports: [{ protocol: 'TCP', port: CACHE_PORT }] },
          ],
        },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: ALLOW_PROBES[1], namespace: topology.namespace },
        spec: {
          podSelector: { matchLabels: { 'app.kubernetes.io/name': topology.orderStore.appId } },
          policyTypes: ['Ingress'],
          ingress: [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': INTRUDER } } }], ports: [{ protocol: 'TCP', port: SIDECAR_INTERNAL_PORT }, { protocol: 'TCP', port: topology.orderStore.port }] }],
        },
      },
    ];

    beforeAll(async () => {
      acknowledgedBefore = (await acknowledged()).length;
      const [store] = await storePods();
      const storeIp = store?.status.podIP;
      if (!storeIp) throw new Error('no order-store Pod with an IP');
      targets = [
        { name: `order-store sidecar ${storeIp}:${SIDECAR_INTERNAL_PORT}`, host: storeIp, port: SIDECAR_INTERNAL_PORT },
        { name: `order-store app ${storeIp}:${topology.orderStore.port}`, host: storeIp, port: topology.orderStore.port },
        ...cache!.primaries.map((primary) => ({ name: `cache ${primary.host}:${primary.port}`, ...primary })),
      ];
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [probePod(INTRUDER, topology.namespace, STORE_IMAGE), probePod(OUTSIDER, 'default', STORE_IMAGE)] }));
      await kubectl(['wait', '--for=condition=Ready', '-n', topology.namespace, `pod/${INTRUDER}`, '--timeout=120s']);
      await kubectl(['wait', '--for=condition=Ready', '-n', 'default', `pod/${OUTSIDER}`, '--timeout=120s']);
      // Until kube-router has programmed a new Pod, no policy applies to it: a probe before that
      // would show nothing.
      await waitFor('kube-router to enforce policies for both probe Pods', async () =>
        (await node!.policiesEnforcedFor(topology.namespace, INTRUDER)) && (await node!.policiesEnforcedFor('default', OUTSIDER)), 60_000);
    }, 300_000);

    afterAll(async () => {
      await kubectl(['delete', 'networkpolicy', '-n', topology.namespace, ...ALLOW_PROBES, '--ignore-not-found']).catch(() => undefined);
      await kubectl(['delete', 'pod', '-n', topology.namespace, INTRUDER, '--ignore-not-found', '--wait=true', '--timeout=60s']).catch(() => undefined);
      await kubectl(['delete', 'pod', '-n', 'default', OUTSIDER, '--ignore-not-found', '--wait=true', '--timeout=60s']).catch(() => undefined);
    }, 120_000);

    test("every Pod of orders is behind kube-router's firewall, and from the intruder in orders every probe fails", async () => {
      // kube-router's rules for Pods on one bridge match only bridged traffic that netfilter sees.
      expect((await inNode('cat', ['/proc/sys/net/bridge/bridge-nf-call-iptables'])).stdout.trim()).toBe('1');
      for (const pod of await pods(topology.namespace)) expect({ pod: pod.metadata.name, enforced: await node!.policiesEnforcedFor(topology.namespace, pod.metadata.name) }).toEqual({ pod: pod.metadata.name, enforced: true });
      const results = await probe(topology.namespace, INTRUDER);
      process.stdout.write(`intruder's probes under deploy/'s policies: ${JSON.stringify(results)}\n`);
      expect(Object.keys(results).sort()).toEqual(names().sort());
      expect(connected(results)).toEqual([]);
    }, 60_000);

    test('positive control: a NetworkPolicy allowing exactly those probes lets every one connect; deleting it blocks them again', async () => {
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: allowProbes() }));
      let allowed: ProbeResults = {};
      await waitFor('every probe to connect once allowed', async () => connected((allowed = await probe(topology.namespace, INTRUDER))).length === targets.length, 60_000)
        .catch((error: Error) => { throw new Error(`${error.message}; last: ${JSON.stringify(allowed)}`); });
      process.stdout.write(`intruder's probes with the allowing policy: ${JSON.stringify(allowed)}\n`);
      await kubectl(['delete', 'networkpolicy', '-n', topology.namespace, ...ALLOW_PROBES, '--wait=true']);
      let blocked: ProbeResults = {};
      await waitFor('every probe to fail again once the allow is gone', async () => connected((blocked = await probe(topology.namespace, INTRUDER))).length === 0, 60_000)
        .catch((error: Error) => { throw new Error(`${error.message}; last: ${JSON.stringify(blocked)}`); });
      expect(connected(blocked)).toEqual([]);
    }, 180_000);

    test("from a Pod in another namespace the store's sidecar is closed; its app port is open, as deploy/'s uncut 0.0.0.0/0 says", async () => {
      const [sidecar, app] = targets as [ProbeTarget, ProbeTarget];
      const results = await probe('default', OUTSIDER, [sidecar, app]);
      process.stdout.write(`probes from default/${OUTSIDER}: ${JSON.stringify(results)}\n`);
      expect(results[sidecar.name]).not.toBe('connected');
      // allow-into-order-store admits 3000 from ipBlock 0.0.0.0/0, and kube-router matches Pod
      // addresses against ipBlocks too: before the CDK app narrows that block to the NLB's
      // subnets (narrowPolicyCidrs), any Pod of the cluster reaches the app port. It is also this
      // Pod's own positive control: it can connect, so the sidecar's refusal is the policy's.
      expect(results[app.name]).toBe('connected');
    }, 60_000);

    test("meanwhile the generator's orders kept being acknowledged, and every acknowledged one is stored", async () => {
      await waitFor('new acknowledged orders', async () => (await acknowledged()).length > acknowledgedBefore + 5, 60_000);
      const acks = await acknowledged();
      const stored = await storedOrderIds();
      expect(acks.filter((ack) => !stored.has(ack.orderId))).toEqual([]);
    }, 120_000);
  });

  describe('under the generator load, order-store disrupted three ways', () => {
    const gaps: Record<string, number> = {};
    let watch: LatestWatch | undefined;

    beforeAll(async () => {
      // deploy/'s generator sends 1 order a second; at 20 a gap is measured to 50 ms, not 1 s.
      await kubectl(['set', 'env', '-n', topology.namespace, `deployment/${topology.orderGenerator.appId}`, 'ORDERS_PER_SECOND=20']);
      await kubectl(['rollout', 'status', '-n', topology.namespace, `deployment/${topology.orderGenerator.appId}`, '--timeout=120s']);
      await waitFor('orders at the new rate', async () => (await acknowledged()).length >= 40, 60_000);
      const url = await nodePortUrl();
      watch = new LatestWatch({
        nodePort: async () => {
          const res = await curl([`${url}/order`]);
          return res.status === 200 ? (JSON.parse(res.body) as Latest) : undefined;
        },
      }, 200);
    }, 300_000);

    afterAll(async () => {
      await watch?.stop();
      process.stdout.write(`longest acknowledgement gap per disruption (ms): ${JSON.stringify(gaps)}\n`);
    });

    /** Runs a disruption, waits for order-store to be whole again, and notes the longest acknowledgement gap. */
    const disrupt = async (name: string, action: () => Promise<void>) => {
      const from = Date.now();
      await action();
      await kubectl(['rollout', 'status', '-n', topology.namespace, `deployment/${topology.orderStore.appId}`, '--timeout=180s']);
      await waitFor('2 Ready order-store Pods and no other', async () => {
        const current = await storePods();
        return current.length === 2 && current.every(isReady);
      }, 180_000);
      // A little past the end, so that a gap at the very end is measured whole.
      await new Promise((done) => setTimeout(done, 3_000));
      gaps[name] = longestGap(await acknowledged(), from, Date.now());
    };

    test('deleting one order-store Pod: its app finishes in-flight orders before its sidecar shuts down', async () => {
      const [victim] = await storePods();
      /** `kubectl logs -f --timestamps` of one container of the victim, every line kept. */
      const follow = (container: string): { proc: Proc; lines: string[] } => {
        const wrapped = node!.network.enter(kubeBinary('kubectl'), [
          `--kubeconfig=${node!.controlPlane.kubeconfig}`, 'logs', '-f', '--timestamps', '-n', topology.namespace, victim!.metadata.name, '-c', container,
        ]);
        const lines: string[] = [];
        let partial = '';
        const echo = new Writable({
          write(chunk: Buffer, _encoding, done) {
            const parts = (partial + chunk.toString()).split('\n');
            partial = parts.pop() ?? '';
            lines.push(...parts.filter(Boolean));
            done();
          },
        });
        return { proc: startProcess(`logs:${container}`, wrapped.command, wrapped.args, { echo }), lines };
      };
      const appLogs = follow(topology.orderStore.appId);
      const daprdLogs = follow('daprd');
      await disrupt('delete one Pod', async () => {
        await kubectl(['delete', 'pod', '-n', topology.namespace, victim!.metadata.name, '--wait=true', '--timeout=120s']);
      });
      await Promise.all([appLogs.proc.stop(5_000), daprdLogs.proc.stop(5_000)]);
      const at = (logs: { lines: string[] }, text: string) => {
        const line = logs.lines.find((l) => l.includes(text));
        return line ? Date.parse(line.split(' ')[0] as string) : undefined;
      };
      const order = {
        sidecarBlocking: at(daprdLogs, 'Blocking graceful shutdown'),
        appStopping: at(appLogs, 'order-store stopping'),
        appStopped: at(appLogs, 'order-store stopped'),
        sidecarShuttingDown: at(daprdLogs, 'Dapr is shutting down'),
      };
      process.stdout.write(`SIGTERM ordering of ${victim!.metadata.name}: ${JSON.stringify(order)}\n`);
      expect(Object.values(order).every((t) => typeof t === 'number')).toBe(true);
      // The sidecar got SIGTERM first and held on; the app, after preStop, drained and stopped;
      // only then did the sidecar shut down.
      expect(order.sidecarBlocking!).toBeLessThanOrEqual(order.appStopping!);
      expect(order.appStopped!).toBeLessThan(order.sidecarShuttingDown!);
      expect(appLogs.lines.filter((line) => /grace period over/.test(line))).toEqual([]);
    }, 300_000);

    test('kubectl rollout restart deployment/order-store', async () => {
      await disrupt('rollout restart', async () => {
        await kubectl(['rollout', 'restart', '-n', topology.namespace, `deployment/${topology.orderStore.appId}`]);
      });
    }, 300_000);

    test('drain-style eviction of both order-store Pods: the PDB lets one go at a time', async () => {
      const evict = (pod: string) =>
        kubectl(['create', '--raw', `/api/v1/namespaces/${topology.namespace}/pods/${pod}/eviction`, '-f', '-'],
          JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: topology.namespace } }));
      const refusals: string[] = [];
      await disrupt('drain-style eviction', async () => {
        const [first, second] = (await storePods()).map((pod) => pod.metadata.name);
        await evict(first!);
        // The PDB (maxUnavailable: 1) refuses the second until the first's replacement is Ready.
        await evict(second!).then(() => refusals.push('none: the second eviction was allowed at once'), (error: Error) => refusals.push(error.message));
        await waitFor(`the eviction of ${second}`, () => evict(second!).then(() => true), 180_000);
      });
      expect(refusals).toEqual([expect.stringMatching(/disruption budget/)]);
    }, 400_000);

    test('no acknowledged order was lost, and the latest order never moved back', async () => {
      await watch!.stop();
      const acks = await acknowledged();
      const stored = await storedOrderIds();
      expect(acks.filter((ack) => !stored.has(ack.orderId))).toEqual([]);
      expect(watch!.wentBack).toEqual([]);
      expect(watch!.totalReads).toBeGreaterThan(10);
      expect(Object.keys(gaps).sort()).toEqual(['delete one Pod', 'drain-style eviction', 'rollout restart']);
    });
  });

  test('no Pod restarted and none was OOM-killed during the run', async () => {
    expect(await restartsAndKills()).toEqual([]);
  });

  test('with the daprHa=true values, helm install makes every Pod of the control plane scheduled and Ready', async () => {
    const values = onTestNode(daprHelmValues({ highAvailability: true }));
    const chart = await renderDaprChart(values, topology.daprVersion, dir);
    const expected = chart
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .reduce((sum, o) => sum + ((o.spec as { replicas?: number }).replicas ?? 1), 0);
    const valuesFile = join(dir, 'dapr-ha-values.json');
    writeFileSync(valuesFile, JSON.stringify(values));
    const provisionedBefore = volumes!.provisioned.length;
    // A fresh install, as a cluster created with daprHa=true gets.
    await helm(['uninstall', 'dapr', '--namespace', DAPR_NAMESPACE, '--wait', '--timeout', '120s']);
    await timed('helm install dapr (HA) --wait', () =>
      helm(['install', 'dapr', daprChartDir(), '--namespace', DAPR_NAMESPACE, '--values', valuesFile, '--set', `global.tag=${topology.daprVersion}`, '--wait', '--timeout', '240s']),
    );
    await awaitReady(DAPR_NAMESPACE, expected, 120_000);
    process.stdout.write(`HA control plane: ${expected} Pods Ready; ${volumes!.provisioned.length - provisionedBefore} volume(s) provisioned for its claims\n`);
  }, 300_000);

});

/**
 * Dapr's chart starts its components at once, and each exits when what it needs at start is not
 * there yet; kubelet starts it again. Two such needs, seen in CI runs:
 * - the `daprsystem` Configuration Sentry and the operator read: helm applies custom resources
 *   after Deployments (kinds it does not know come last), so a container can exit naming it once,
 *   or twice when helm takes longer than kubelet's first 10 s back-off;
 * - Sentry itself, through its ClusterIP: the scheduler asks it for an identity at start and exits
 *   on `connection refused` while Sentry is not yet up and routed.
 * Dapr's chart owns that order, not deploy/, and on EKS image pulls come first, so the suite passes
 * over a restart whose last run ended on one of these before its need was met (then every earlier
 * run did too): before the Configuration's creationTimestamp, or before the suite saw Sentry answer
 * through its ClusterIP. It counts any other.
 */
function isChartInstallOrder(previousLog: string, lastFinishedAt: number, needsMetAt: { daprsystemCreatedAt: number; sentryRoutedAt: number }): boolean {
  return previousLog.split('\n').some((line) =>
    (/"level":"fatal".*daprsystem.*not found/.test(line) && lastFinishedAt <= needsMetAt.daprsystemCreatedAt) ||
    (isSentryNotYetRouted(line) && lastFinishedAt <= needsMetAt.sentryRoutedAt));
}

/**
 * A sidecar's first start can find Sentry's ClusterIP refusing although the suite saw Sentry answer
 * there just before applying deploy/ (seen in a fresh-clone run of the whole `npm test` on a
 * 2-core machine, not in runs of this suite alone): daprd exits when it cannot get its first certificate, and
 * kubelet's restart gets it. Dapr's sidecar owns that exit, not deploy/; the suite passes over
 * exactly one such restart of a daprd, says so, and counts any other.
 */
function isSentryNotYetRouted(previousLog: string): boolean {
  return previousLog.split('\n').some((line) => /"level":"fatal".*failed to retrieve the initial identity.*connect: connection refused/.test(line));
}

/** The longest time between two acknowledgements from `from` to `to` (ms since the epoch). */
function longestGap(acks: { at: number }[], from: number, to: number): number {
  const times = acks.map((ack) => ack.at).filter((at) => at >= from && at <= to).sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i += 1) longest = Math.max(longest, (times[i] as number) - (times[i - 1] as number));
  return longest;
}

/** Every image the rendered chart's workloads run, and the sidecar image its injector adds. */
function daprImageRefs(chart: K8sObject[]): string[] {
  const refs = new Set<string>();
  for (const object of chart) {
    if (!['Deployment', 'StatefulSet', 'DaemonSet'].includes(object.kind)) continue;
    const spec = (object.spec as { template: { spec: { containers: { image: string; env?: { name: string; value?: string }[] }[] } } }).template.spec;
    for (const container of spec.containers) {
      refs.add(container.image);
      const sidecar = container.env?.find((env) => env.name === 'SIDECAR_IMAGE')?.value;
      if (sidecar) refs.add(sidecar);
    }
  }
  return [...refs];
}

function replicasIn(objects: K8sObject[]): number {
  return objects.filter((o) => o.kind === 'Deployment').reduce((sum, o) => sum + ((o.spec as { replicas?: number }).replicas ?? 1), 0);
}
