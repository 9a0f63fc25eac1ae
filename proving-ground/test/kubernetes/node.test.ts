import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { daprHelmValues } from '../../../infra/cdk/lib/dapr-helm-values';
import { topology } from '../../../infra/cdk/lib/topology';
import { DAPR_NAMESPACE, onTestNode, renderDaprChart } from '../../harness/kubernetes/dapr';
import { isReady } from '../../harness/kubernetes/node';
import { type ProbeResults, type ProbeTarget, probeFrom, probePod } from '../../harness/kubernetes/network-probe';
import { APP_IMAGES, OrdersOnNode } from '../../harness/kubernetes/orders-on-node';
import { longestGap } from '../../harness/ack-gap';
import { CACHE_PORT } from '../../harness/redis-cluster';
import { type LatestWatch } from '../../harness/latest-watch';
import { type Proc, startProcess, waitFor } from '../../../dev/src/processes';

// deploy/ on a real node: kubelet, containerd and runc run the Pods, the Dapr control plane is the
// pinned chart installed by helm with the CDK app's values, the apps' images are built from their
// Dockerfiles, and the cache is a TLS Redis Cluster standing in for ElastiCache Serverless. All of
// it lives in a network namespace the test creates, with no way out (harness/kubernetes/node.ts,
// harness/kubernetes/orders-on-node.ts). deploy/'s NetworkPolicies are enforced throughout
// (kube-router's network policy controller).

/** daprd's internal gRPC port (service invocation; dapr/pkg/injector/consts), which deploy/ opens to order-generator only. */
const SIDECAR_INTERNAL_PORT = 50002;
/** order-store's image as the node has it: the probe Pods run it for its Node.js. */
const STORE_IMAGE = APP_IMAGES[topology.orderStore.appId]!;

/**
 * The longest a replica leaving (deleted, rolled, evicted) may stop acknowledgements: what EKS Auto
 * Mode's node replacements and every deploy cost the generator (issue 29: at most 1 s).
 */
const MAX_ACK_GAP_MS = 1_000;

describe('deploy/ on a real kubelet, with the Dapr chart installed by helm and the apps built from their Dockerfiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orders-node-'));
  const suite = new OrdersOnNode(dir);

  const kubectl = (args: string[], input?: string) => suite.kubectl(args, input);
  const pods = (namespace: string) => suite.pods(namespace);
  const storePods = () => suite.storePods();
  const acknowledged = () => suite.acknowledged();
  const curl = (args: string[]) => suite.curl(args);

  beforeAll(() => suite.start(), 900_000);

  afterAll(async () => {
    expect(await suite.tearDown('node')).toEqual({ leftovers: [], processes: [] });
  }, 300_000);

  const writeToken = async () => {
    const secret = await suite.kubectlJson<{ data: { token: string } }>(['get', 'secret', 'order-store-write-token', '-n', topology.namespace]);
    return Buffer.from(secret.data.token, 'base64').toString();
  };

  test('every Pod is Ready, with no restart and no OOM kill', async () => {
    expect(await suite.restartsAndKills()).toEqual([]);
    for (const namespace of [topology.namespace, DAPR_NAMESPACE, 'kube-system']) {
      expect((await pods(namespace)).filter((pod) => !isReady(pod)).map((pod) => pod.metadata.name)).toEqual([]);
    }
  });

  test('the namespace enforces restricted, and every container runs with the limits deploy/ and its annotations set', async () => {
    const namespace = await suite.kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'namespace', topology.namespace]);
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const [store] = await storePods();
    const limits = Object.fromEntries((store?.spec.containers ?? []).map((c) => [c.name, c.resources?.limits]));
    expect(limits).toEqual({ [topology.orderStore.appId]: { cpu: '500m', memory: '512Mi' }, daprd: { cpu: '500m', memory: '256Mi' } });
  });

  test("the generator's orders reach Redis through both sidecars, over mTLS, by cluster DNS; every acknowledged one is stored", async () => {
    await waitFor('20 acknowledged orders', async () => (await acknowledged()).length >= 20, 120_000);
    const acks = await acknowledged();
    const stored = await suite.storedOrderIds();
    expect(acks.filter((ack) => !stored.has(ack.orderId))).toEqual([]);
    // Access control (deploy/configuration.yaml) admits POST /neworder only from the SPIFFE id
    // in the caller's mTLS certificate, which only Sentry issues: an accepted order is one the
    // store's sidecar took from order-generator's, identified by Sentry's certificate.
    const sentry = (await pods(DAPR_NAMESPACE)).find((pod) => pod.metadata.labels?.app === 'dapr-sentry');
    const metrics = await suite.running.controlPlane.get(`/api/v1/namespaces/${DAPR_NAMESPACE}/pods/${sentry?.metadata.name}:9090/proxy/metrics`);
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
    const url = await suite.nodePortUrl();
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
    const probe = (namespace: string, pod: string, only?: ProbeTarget[]) => probeFrom(suite.running.controlPlane, namespace, pod, only ?? targets);
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
            { to: suite.cache!.primaries.map((primary) => ({ ipBlock: { cidr: `${primary.host}/32` } })), ports: [{ protocol: 'TCP', port: CACHE_PORT }] },
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
        ...suite.cache!.primaries.map((primary) => ({ name: `cache ${primary.host}:${primary.port}`, ...primary })),
      ];
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [probePod(INTRUDER, topology.namespace, STORE_IMAGE), probePod(OUTSIDER, 'default', STORE_IMAGE)] }));
      await kubectl(['wait', '--for=condition=Ready', '-n', topology.namespace, `pod/${INTRUDER}`, '--timeout=120s']);
      await kubectl(['wait', '--for=condition=Ready', '-n', 'default', `pod/${OUTSIDER}`, '--timeout=120s']);
      // Until kube-router has programmed a new Pod, no policy applies to it: a probe before that
      // would show nothing.
      await waitFor('kube-router to enforce policies for both probe Pods', async () =>
        (await suite.running.policiesEnforcedFor(topology.namespace, INTRUDER)) && (await suite.running.policiesEnforcedFor('default', OUTSIDER)), 60_000);
    }, 300_000);

    afterAll(async () => {
      await kubectl(['delete', 'networkpolicy', '-n', topology.namespace, ...ALLOW_PROBES, '--ignore-not-found']).catch(() => undefined);
      await kubectl(['delete', 'pod', '-n', topology.namespace, INTRUDER, '--ignore-not-found', '--wait=true', '--timeout=60s']).catch(() => undefined);
      await kubectl(['delete', 'pod', '-n', 'default', OUTSIDER, '--ignore-not-found', '--wait=true', '--timeout=60s']).catch(() => undefined);
    }, 120_000);

    test("every Pod of orders is behind kube-router's firewall, and from the intruder in orders every probe fails", async () => {
      // kube-router's rules for Pods on one bridge match only bridged traffic that netfilter sees.
      expect((await suite.inNode('cat', ['/proc/sys/net/bridge/bridge-nf-call-iptables'])).stdout.trim()).toBe('1');
      for (const pod of await pods(topology.namespace)) expect({ pod: pod.metadata.name, enforced: await suite.running.policiesEnforcedFor(topology.namespace, pod.metadata.name) }).toEqual({ pod: pod.metadata.name, enforced: true });
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
      const stored = await suite.storedOrderIds();
      expect(acks.filter((ack) => !stored.has(ack.orderId))).toEqual([]);
    }, 120_000);
  });

  describe('under the generator load, order-store disrupted three ways', () => {
    const gaps: Record<string, number> = {};
    let watch: LatestWatch | undefined;
    /** A client behind the load balancer's stand-in, posting through the NodePort all through the disruptions. */
    let behindLoadBalancer: Proc | undefined;
    let behindLoadBalancerOutput = '';

    beforeAll(async () => {
      watch = await suite.underLoad(20);
      const client = suite.running.network.enter(process.execPath, [
        join(__dirname, '../../harness/kubernetes/load-balancer-client.ts'), await suite.nodePortUrl(), await writeToken(), '10', `behind-nlb-${Date.now()}`,
      ]);
      const echo = new Writable({
        write(chunk: Buffer, _encoding, done) {
          behindLoadBalancerOutput += chunk.toString();
          done();
        },
      });
      behindLoadBalancer = startProcess('load-balancer-client', client.command, client.args, { echo });
    }, 300_000);

    afterAll(async () => {
      await watch?.stop();
      await behindLoadBalancer?.stop(15_000);
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
      const appLogs = suite.followLog(victim!.metadata.name, topology.orderStore.appId, { timestamps: true });
      const daprdLogs = suite.followLog(victim!.metadata.name, 'daprd', { timestamps: true });
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

    test('a client behind the NodePort saw every order answered 201, none 5xx, no reset connection; each is stored', async () => {
      await behindLoadBalancer!.stop(15_000);
      const summary = JSON.parse(behindLoadBalancerOutput.split('\n').filter((line) => line.startsWith('{')).at(-1) ?? '{}') as {
        sent: number; statuses: Record<string, number>; failures: Record<string, number>; accepted: string[];
      };
      process.stdout.write(`behind the load balancer: sent ${summary.sent}, answers ${JSON.stringify(summary.statuses)}, failures ${JSON.stringify(summary.failures)}\n`);
      expect(summary.failures).toEqual({});
      expect(Object.keys(summary.statuses)).toEqual(['201']);
      // 10 a second over three disruptions of a minute or more each.
      expect(summary.sent).toBeGreaterThan(600);
      const stored = await suite.storedOrderIds();
      expect(summary.accepted.filter((id) => !stored.has(id))).toEqual([]);
    }, 60_000);

    test('no acknowledged order was lost, and the latest order never moved back', async () => {
      await watch!.stop();
      expect(await suite.lostOrders()).toEqual([]);
      expect(watch!.wentBack).toEqual([]);
      expect(watch!.totalReads).toBeGreaterThan(10);
      expect(Object.keys(gaps).sort()).toEqual(['delete one Pod', 'drain-style eviction', 'rollout restart']);
    });

    test('no disruption stopped acknowledgements for more than a second', () => {
      expect(Object.entries(gaps).filter(([, gap]) => gap > MAX_ACK_GAP_MS)).toEqual([]);
    });
  });

  test('no Pod restarted and none was OOM-killed during the run', async () => {
    expect(await suite.restartsAndKills()).toEqual([]);
  });

  test('with the daprHa=true values, helm install makes every Pod of the control plane scheduled and Ready', async () => {
    const values = onTestNode(daprHelmValues({ highAvailability: true }));
    const chart = await renderDaprChart(values, topology.daprVersion, dir);
    const expected = chart
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .reduce((sum, o) => sum + ((o.spec as { replicas?: number }).replicas ?? 1), 0);
    const provisionedBefore = suite.volumes!.provisioned.length;
    // A fresh install, as a cluster created with daprHa=true gets.
    await suite.helm(['uninstall', 'dapr', '--namespace', DAPR_NAMESPACE, '--wait', '--timeout', '120s']);
    await suite.timed('helm install dapr (HA) --wait', () =>
      suite.installDaprChart(values),
    );
    await suite.awaitReady(DAPR_NAMESPACE, expected, 120_000);
    process.stdout.write(`HA control plane: ${expected} Pods Ready; ${suite.volumes!.provisioned.length - provisionedBefore} volume(s) provisioned for its claims\n`);
  }, 300_000);
});
