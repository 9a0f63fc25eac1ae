import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Proc, startProcess, waitFor } from '../../../dev/src/processes';
import { kubeBin, kubeBinary } from './binaries';
import { issueClientCertificate } from './certificates';
import { CLUSTER_DOMAIN, type ControlPlane, SERVICE_CIDR, startControlPlane } from './control-plane';
import { type NetworkNamespace, createNetworkNamespace } from './netns';

const run = promisify(execFile);

/**
 * A whole Kubernetes node on this machine, as on a cluster's worker: containerd and runc run the
 * Pods, kubelet drives them, kube-scheduler places them, kube-proxy programs Services into
 * iptables, kube-router's network policy controller enforces NetworkPolicies (iptables and
 * ipset), CoreDNS answers cluster names, all beside etcd, kube-apiserver and the
 * controller-manager (control-plane.ts) inside one network namespace of the test's (netns.ts).
 * Pod and Service addresses exist only in there.
 *
 * What this machine needs for it is checked first (nodePrerequisites) and named when missing.
 * stop() removes every process, mount, network namespace, cgroup and file the node made;
 * leftovers() says what, if anything, is still there.
 */
export interface KubeletNode {
  name: string;
  dir: string;
  network: NetworkNamespace;
  controlPlane: ControlPlane;
  containerdSocket: string;
  processes: Proc[];
  /** Imports docker-archives into containerd's Kubernetes namespace, where kubelet finds them. */
  importImages(archives: string[]): Promise<void>;
  /** The image references containerd holds for kubelet. */
  images(): Promise<string[]>;
  /**
   * Whether kube-router has put the Pod behind its own firewall chain: until it has, no policy
   * applies to a new Pod's traffic (kube-router programs a Pod after it sees it running).
   */
  policiesEnforcedFor(namespace: string, pod: string): Promise<boolean>;
  stop(): Promise<void>;
  /** What of this node is still on the machine: processes, mounts, namespaces, cgroups, files. */
  leftovers(): string[];
}

export const NODE_NAME = 'orders-node';
export const POD_CIDR = '10.88.0.0/16';
export const CLUSTER_DNS_IP = '10.96.0.10';
/** The sandbox image kubeadm 1.36 pins (cmd/kubeadm/app/constants: PauseVersion), which containerd's CRI is told to use; made from pause.c (bootstrap-kube.sh). */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.2';
const CNI_BIN = '/usr/lib/cni';
/**
 * Paths outside the test's directory that the node's programs write to, hard-coded in them:
 * runc's state and the shims' sockets (containerd 1.6), libcni's result cache, kubelet's
 * device-plugin socket, the controller-manager's FlexVolume directory. Those that did not exist
 * before the node started are removed with it; in those that did, only what is new.
 */
const HOST_PATHS = ['/run/containerd', '/var/lib/cni', '/var/lib/kubelet', '/usr/libexec/kubernetes'];
const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * What the node needs from this machine, each missing one named: a suite that cannot run here
 * fails with this list rather than skipping or failing somewhere deep inside kubelet.
 */
export function nodePrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root: containerd, kubelet and network namespaces need uid 0');
  for (const command of ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'iptables', 'iptables-save', 'ipset', 'conntrack', 'buildah', 'nsenter', 'ip', 'curl']) {
    if (!onPath(command)) missing.push(`${command}: not on PATH (proving-ground/bootstrap-kube.sh installs it)`);
  }
  for (const plugin of ['bridge', 'host-local', 'portmap', 'loopback']) {
    if (!existsSync(join(CNI_BIN, plugin))) missing.push(`the CNI plugin ${CNI_BIN}/${plugin} (Debian's containernetworking-plugins)`);
  }
  for (const binary of ['kubelet', 'kube-scheduler', 'kube-proxy', 'kube-router', 'coredns', 'pause', 'etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm', 'placement', 'scheduler', 'injector', 'operator']) {
    if (!existsSync(join(kubeBin, binary))) missing.push(`${join(kubeBin, binary)}: run proving-ground/bootstrap-kube.sh`);
  }
  // cgroup v1 (one hierarchy per controller) or v2 (one unified tree): kubelet takes either.
  const v2 = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));
  for (const controller of ['cpu', 'memory', 'pids']) {
    const present = v2 ? readFileSync(join(CGROUP_ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/).includes(controller) : existsSync(join(CGROUP_ROOT, controller));
    if (!present) missing.push(`the ${controller} cgroup controller under ${CGROUP_ROOT}`);
  }
  const filesystems = readFileSync('/proc/filesystems', 'utf8');
  if (!/\boverlay\b/.test(filesystems)) missing.push("overlayfs in the kernel (containerd's snapshotter)");
  return missing;
}

/**
 * Whether root may lower an oom_score_adj. On VMs whose root lacks CAP_SYS_RESOURCE it may not,
 * and runc fails every Pod sandbox ("can't get final child's PID from pipe") when kubelet asks for
 * -998; containerd's restrict_oom_score_adj, which this node always sets, avoids asking.
 */
export function hasSysResource(): boolean {
  const status = readFileSync('/proc/self/status', 'utf8');
  const bounding = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  const CAP_SYS_RESOURCE = 24n;
  return (bounding & (1n << CAP_SYS_RESOURCE)) !== 0n;
}

/** Kernel features that only a network namespace can show: a bridge, a veth pair, netfilter, br_netfilter. */
async function networkPrerequisites(network: NetworkNamespace): Promise<string[]> {
  const missing: string[] = [];
  const probe = async (what: string, command: string, args: string[]) => {
    await network.exec(command, args, { timeoutMs: 10_000 }).catch((error: Error) => missing.push(`${what}: ${error.message}`));
  };
  await probe('a bridge device (the CNI bridge plugin)', 'ip', ['link', 'add', 'probe-br', 'type', 'bridge']);
  await probe('removing the probe bridge', 'ip', ['link', 'delete', 'probe-br']);
  await probe('netfilter through iptables (kube-proxy)', 'iptables', ['-t', 'nat', '-L', '-n']);
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) missing.push('br_netfilter (/proc/sys/net/bridge/bridge-nf-call-iptables)');
  return missing;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)));
}

export interface KubeletNodeOptions {
  dir: string;
  /** Image archives to import before anything is scheduled (the pause image is made here). */
  images: string[];
}

export async function startKubeletNode(options: KubeletNodeOptions): Promise<KubeletNode> {
  const missing = nodePrerequisites();
  if (missing.length > 0) throw new Error(`this machine cannot run a Kubernetes node; missing:\n- ${missing.join('\n- ')}`);

  const { dir } = options;
  // Unique, so that a namespace left by a killed run never meets this one.
  const name = `orders-node-${process.pid}-${Date.now().toString(36)}`;
  const network = await createNetworkNamespace(name);
  const netnsBefore = new Set(listNetns());
  const hostPathsBefore = snapshotHostPaths();
  const processes: Proc[] = [];
  const containerdDir = join(dir, 'containerd');
  const containerdSocket = join(containerdDir, 'containerd.sock');
  const cniNetwork = name;
  let controlPlane: ControlPlane | undefined;
  const inNetns = (procName: string, command: string, args: string[]) => {
    const wrapped = network.enter(command, args);
    const proc = startProcess(procName, wrapped.command, wrapped.args);
    processes.push(proc);
    return proc;
  };
  const filterRules = async () => (await network.exec('iptables-save', ['-t', 'filter'], { timeoutMs: 30_000 })).stdout;
  const ctr = (args: string[]) => run('ctr', ['--address', containerdSocket, '--namespace', 'k8s.io', ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });

  const stop = async () => {
    await teardown({ dir, network, processes, controlPlane, ctr, containerdSocket, netnsBefore });
    removeNewHostFiles(hostPathsBefore);
  };
  try {
    const networkMissing = await networkPrerequisites(network);
    if (networkMissing.length > 0) throw new Error(`this machine cannot run a Kubernetes node's network; missing:\n- ${networkMissing.join('\n- ')}`);

    // containerd, with everything of its own under dir.
    const cniConfDir = join(dir, 'cni');
    mkdirSync(cniConfDir, { recursive: true });
    writeFileSync(join(cniConfDir, '10-orders.conflist'), JSON.stringify(cniConfig(cniNetwork, join(dir, 'cni-ipam')), null, 2));
    mkdirSync(containerdDir, { recursive: true });
    const containerdConfig = join(containerdDir, 'config.toml');
    writeFileSync(containerdConfig, containerdToml(containerdDir, containerdSocket, cniConfDir));
    const containerd = inNetns('containerd', 'containerd', ['--config', containerdConfig]);
    await waitFor('containerd to answer', () => ctr(['version']).then(() => true), 30_000, containerd);

    await importImagesInto(ctr, options.images);

    controlPlane = await startControlPlane({ dir: join(dir, 'control-plane'), network });
    const pki = join(dir, 'control-plane', 'pki');
    const kubeletCert = await issueClientCertificate(pki, 'kubelet', `/O=system:nodes/CN=system:node:${NODE_NAME}`);
    const kubeletKubeconfig = join(dir, 'kubelet.kubeconfig');
    writeFileSync(kubeletKubeconfig, kubeconfig(controlPlane.server, controlPlane.certificates.caCert, kubeletCert.cert, kubeletCert.key));

    inNetns('kube-scheduler', kubeBinary('kube-scheduler'), [
      `--kubeconfig=${controlPlane.kubeconfig}`,
      `--authentication-kubeconfig=${controlPlane.kubeconfig}`,
      `--authorization-kubeconfig=${controlPlane.kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
    ]);

    const kubeletDir = join(dir, 'kubelet');
    mkdirSync(kubeletDir, { recursive: true });
    const resolvConf = join(dir, 'resolv.conf');
    // For Pods with dnsPolicy: Default (CoreDNS's own): nothing outside the cluster answers.
    writeFileSync(resolvConf, `nameserver ${CLUSTER_DNS_IP}\n`);
    const kubeletConfig = join(dir, 'kubelet-config.json');
    writeFileSync(kubeletConfig, JSON.stringify(kubeletConfiguration({ address: network.address, containerdSocket, caCert: controlPlane.certificates.caCert, resolvConf, dir }), null, 2));
    const kubelet = inNetns('kubelet', kubeBinary('kubelet'), [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${kubeletDir}`,
      `--cert-dir=${join(kubeletDir, 'pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${network.address}`,
      '-v=1',
    ]);

    inNetns('kube-proxy', kubeBinary('kube-proxy'), [
      `--kubeconfig=${controlPlane.kubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      '--proxy-mode=iptables',
      `--cluster-cidr=${POD_CIDR}`,
      // conntrack's table size is the host's (init namespace) setting: leave it alone.
      '--conntrack-max-per-core=0',
      '--metrics-bind-address=127.0.0.1:10249',
      '--healthz-bind-address=127.0.0.1:10256',
      `--nodeport-addresses=${network.address}/32`,
    ]);

    const kubectl = (args: string[], input?: string) => controlPlane!.kubectl(args, input);
    await waitFor(`Node ${NODE_NAME} to register and be Ready`, async () => {
      const { stdout } = await kubectl(['get', 'node', NODE_NAME, '--ignore-not-found', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return stdout.trim() === 'True';
    }, 120_000, kubelet);

    // NetworkPolicy, enforced: kube-router's network policy controller alone (no routing, no
    // service proxy: the bridge and kube-proxy do those), from before any Pod runs. It reads its
    // node's address from the Node object, hence after registration. kube-router has had reported
    // security flaws: acceptable only here, inside the test's own network namespace (README).
    const kubeRouter = inNetns('kube-router', kubeBinary('kube-router'), [
      `--kubeconfig=${controlPlane.kubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      '--run-firewall=true',
      '--run-router=false',
      '--run-service-proxy=false',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--enable-ipv4=true',
      '--enable-ipv6=false',
      // Nothing asks for its health or metrics: no port opened for them.
      '--health-port=0',
      '--metrics-port=0',
    ]);
    // Its chains hooked into the filter table are what every Pod's traffic then passes through.
    await waitFor('kube-router to hook its firewall into iptables', () => filterRules().then((rules) => /^-A FORWARD .*-j KUBE-ROUTER-FORWARD/m.test(rules), () => false), 60_000, kubeRouter);

    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: coreDnsObjects() }));
    await awaitPodsReady(controlPlane, 'kube-system', 1, 120_000);

    return {
      name,
      dir,
      network,
      controlPlane,
      containerdSocket,
      processes,
      importImages: (archives) => importImagesInto(ctr, archives),
      images: async () => (await ctr(['images', 'list', '--quiet'])).stdout.split('\n').filter((ref) => ref && !ref.startsWith('sha256:')),
      // kube-router names the Pod in the comment of the rule that sends its traffic to its chain.
      policiesEnforcedFor: async (namespace, pod) => (await filterRules()).includes(`POD name:${pod} namespace: ${namespace} to chain KUBE-POD-FW-`),
      stop,
      leftovers: () => leftoversOf({ dir, name, netnsBefore, hostPathsBefore, processes }),
    };
  } catch (error) {
    await stop().catch((stopError: Error) => process.stderr.write(`node teardown after a failed start: ${stopError.message}\n`));
    throw error;
  }
}

export interface PodStatus {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: { name: string; image: string; resources?: { limits?: Record<string, string>; requests?: Record<string, string> } }[] };
  status: {
    phase: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

export interface ContainerStatus {
  name: string;
  image: string;
  ready: boolean;
  restartCount: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: { startedAt?: string } };
  lastState?: { terminated?: { reason?: string; exitCode?: number; finishedAt?: string } };
}

/** Why a container cannot start, when waiting longer will not help (an image kubelet would have to pull, among them). */
const HOPELESS = new Set(['ErrImageNeverPull', 'ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

export const isReady = (pod: PodStatus): boolean => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Waits for exactly `count` Pods in the namespace, all Ready. Fails at once, naming the container
 * and its image, when one cannot start; on a timeout, with the namespace's latest events.
 */
export async function awaitPodsReady(controlPlane: ControlPlane, namespace: string, count: number, timeoutMs: number): Promise<void> {
  let hopeless: string | undefined;
  await waitFor(`${count} Ready Pod(s) in ${namespace}`, async () => {
    const pods = (await controlPlane.kubectlJson<{ items: PodStatus[] }>(['get', 'pods', '-n', namespace])).items;
    for (const pod of pods) {
      for (const container of [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])]) {
        const reason = container.state?.waiting?.reason;
        if (reason && HOPELESS.has(reason)) {
          hopeless = `${namespace}/${pod.metadata.name}, container ${container.name}, image ${container.image}: ${reason}: ${container.state?.waiting?.message ?? ''}`;
        }
      }
    }
    return hopeless !== undefined || (pods.length === count && pods.every(isReady));
  }, timeoutMs).catch(async (error: Error) => {
    const events = await controlPlane.kubectl(['get', 'events', '-n', namespace, '--sort-by=.lastTimestamp']).catch(() => ({ stdout: '' }));
    throw new Error(`${error.message}\n${events.stdout.split('\n').slice(-25).join('\n')}`);
  });
  if (hopeless) throw new Error(hopeless);
}

async function importImagesInto(ctr: (args: string[]) => Promise<{ stdout: string }>, archives: string[]): Promise<void> {
  for (const archive of archives) await ctr(['images', 'import', '--no-unpack=false', archive]);
}

function listNetns(): string[] {
  return existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : [];
}

function kubeconfig(server: string, ca: string, cert: string, key: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'orders-node', cluster: { server, 'certificate-authority': ca } }],
    users: [{ name: 'kubelet', user: { 'client-certificate': cert, 'client-key': key } }],
    contexts: [{ name: 'orders-node', context: { cluster: 'orders-node', user: 'kubelet' } }],
    'current-context': 'orders-node',
  });
}

/** A bridge (cni0) for the Pods with addresses from POD_CIDR, the node as their gateway; hostPort mapping; lo. */
function cniConfig(networkName: string, ipamDir: string) {
  return {
    cniVersion: '1.0.0',
    name: networkName,
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR, gateway: '10.88.0.1' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'loopback' },
    ],
  };
}

function containerdToml(root: string, socket: string, cniConfDir: string): string {
  return `version = 2
root = "${join(root, 'root')}"
state = "${join(root, 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt"]

[grpc]
  address = "${socket}"

[ttrpc]
  address = "${socket}.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  enable_selinux = false
  # Where root lacks CAP_SYS_RESOURCE (these VMs), runc cannot give the sandbox the
  # oom_score_adj -998 kubelet asks for and fails every Pod; this keeps every container's at or
  # above containerd's own. Harmless where root may.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${cniConfDir}"
    max_conf_num = 1
`;
}

function kubeletConfiguration(options: { address: string; containerdSocket: string; caCert: string; resolvConf: string; dir: string }) {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // No systemd here (PID 1 is not it): kubelet and runc manage cgroups through cgroupfs.
    cgroupDriver: 'cgroupfs',
    // kubelet 1.35 and later refuse cgroup v1 unless told otherwise; this machine's is v1 (hybrid).
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${options.containerdSocket}`,
    imageServiceEndpoint: `unix://${options.containerdSocket}`,
    address: options.address,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: options.caCert } },
    authorization: { mode: 'AlwaysAllow' },
    clusterDomain: CLUSTER_DOMAIN,
    clusterDNS: [CLUSTER_DNS_IP],
    resolvConf: options.resolvConf,
    podLogsDir: join(options.dir, 'pod-logs'),
    volumePluginDir: join(options.dir, 'volume-plugins'),
    serializeImagePulls: false,
    // The images were imported, not pulled: never garbage-collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // A shared CI machine's disk and memory are not this node's to guard: evict only when nearly out.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    registerNode: true,
    maxPods: 60,
    // Without CAP_SYS_RESOURCE kubelet cannot lower its own score (-999 by default).
    oomScoreAdj: 0,
    // Pods go quickly after their deletion's grace period: the test's teardown waits for them.
    shutdownGracePeriod: '0s',
  };
}

/**
 * CoreDNS as kubeadm deploys it, cut to what a cluster with no way out needs: the kubernetes
 * plugin answers cluster.local and nothing is forwarded. It listens on port 53, as kubeadm's and
 * EKS's do, because NetworkPolicies see the Pod's port behind the Service: deploy/'s DNS allow
 * names 53. It runs as a non-root user with no capability, the Pod's (namespaced, safe) sysctl
 * net.ipv4.ip_unprivileged_port_start letting it bind 53.
 */
export function coreDnsObjects(): object[] {
  const labels = { 'k8s-app': 'kube-dns' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns' },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'coredns', namespace: 'kube-system' },
      data: {
        Corefile: `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
`,
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'coredns',
            dnsPolicy: 'Default',
            priorityClassName: 'system-cluster-critical',
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              runAsGroup: 65532,
              seccompProfile: { type: 'RuntimeDefault' },
              sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '53' }],
            },
            volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
            containers: [
              {
                name: 'coredns',
                image: `registry.k8s.io/coredns/coredns:v${corednsVersion()}`,
                imagePullPolicy: 'IfNotPresent',
                args: ['-conf', '/etc/coredns/Corefile'],
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 2 },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 10 },
                resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '170Mi' } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels },
      spec: {
        clusterIP: CLUSTER_DNS_IP,
        selector: labels,
        ports: [
          { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' },
        ],
      },
    },
  ];
}

/** CoreDNS's pinned version (infra/cdk/kubernetes-versions.json), as bootstrap-kube.sh built it. */
export function corednsVersion(): string {
  return readFileSync(join(kubeBin, '.coredns.version'), 'utf8').trim();
}

interface TeardownParts {
  dir: string;
  network: NetworkNamespace;
  processes: Proc[];
  controlPlane: ControlPlane | undefined;
  ctr: (args: string[]) => Promise<{ stdout: string }>;
  containerdSocket: string;
  netnsBefore: Set<string>;
}

/**
 * Pods first, through the API, so that kubelet and containerd take down their containers,
 * volumes and network namespaces themselves; then the daemons, newest first; then whatever is
 * left, found by what is ours (the socket path, the directory, the namespace's name).
 */
async function teardown(parts: TeardownParts): Promise<void> {
  const { dir, network, processes, controlPlane, ctr, containerdSocket } = parts;
  const running = (name: string) => [...processes, ...(controlPlane?.processes ?? [])].some((proc) => proc.name === name && proc.isRunning());
  if (controlPlane && running('kube-apiserver') && running('kubelet')) {
    const kubectl = (args: string[]) => controlPlane.kubectl(args);
    // No controller may make new Pods while the old ones go.
    await kubectl(['delete', 'deployments,statefulsets,daemonsets,replicasets', '--all', '--all-namespaces', '--wait=false']).catch(() => undefined);
    await kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--wait=false']).catch(() => undefined);
    await waitFor('every Pod to be gone', async () => {
      const { stdout } = await kubectl(['get', 'pods', '--all-namespaces', '-o', 'name']);
      return stdout.trim() === '';
    }, 90_000).catch(() => undefined);
    // kubelet stops a deleted Pod's sandbox (its netns, its veth) a moment after the Pod is gone.
    await waitFor('containerd to run no Pod sandbox', async () => (await ctr(['tasks', 'list', '--quiet'])).stdout.trim() === '', 30_000).catch(() => undefined);
  }
  const order = ['kube-router', 'kube-proxy', 'kube-scheduler', 'kubelet'];
  for (const name of order) await processes.find((proc) => proc.name === name)?.stop(10_000);
  // Whatever kubelet did not stop: kill and delete its tasks, so that shims and mounts go.
  if (running('containerd')) {
    const tasks = (await ctr(['tasks', 'list', '--quiet']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
    for (const task of tasks) await ctr(['tasks', 'kill', '--signal', 'SIGKILL', task]).catch(() => undefined);
    for (const task of tasks) await ctr(['tasks', 'delete', '--force', task]).catch(() => undefined);
  }
  await controlPlane?.stop();
  await processes.find((proc) => proc.name === 'containerd')?.stop(10_000);
  for (const proc of processes) await proc.stop(5_000);
  // runc's shims outlive containerd by design; ours are the ones given our socket.
  for (const pid of pidsWhoseCommandLineHas(containerdSocket)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await waitFor('the shims to exit', () => pidsWhoseCommandLineHas(containerdSocket).length === 0, 10_000).catch(() => undefined);
  for (const mount of mountsUnder(dir).reverse()) await run('umount', ['-l', mount]).catch(() => undefined);
  for (const netns of listNetns()) {
    if (netns.startsWith('cni-') && !parts.netnsBefore.has(netns)) await run('ip', ['netns', 'delete', netns]).catch(() => undefined);
  }
  await network.remove();
  removeCgroups();
}

function pidsWhoseCommandLineHas(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .map((path) => path.replace(/\\040/g, ' '))
    .filter((path) => path.startsWith(dir));
}

/** kubelet's cgroups (cgroupfs driver): /kubepods in every hierarchy, made at its start. */
function kubepodsCgroups(): string[] {
  const v2 = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));
  const hierarchies = v2 ? [CGROUP_ROOT] : readdirSync(CGROUP_ROOT).map((name) => join(CGROUP_ROOT, name));
  return hierarchies.map((hierarchy) => join(hierarchy, 'kubepods')).filter((path) => existsSync(path));
}

function removeCgroups(): void {
  const removeTree = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) removeTree(join(path, entry.name));
    try {
      // rmdir(2) is what removes a cgroup (its files cannot be deleted one by one).
      rmdirSync(path);
    } catch {
      // Still has a process in it: leftovers() reports it.
    }
  };
  for (const cgroup of kubepodsCgroups()) removeTree(cgroup);
}

/** Every file and directory under HOST_PATHS now, and which of HOST_PATHS exist. */
function snapshotHostPaths(): Set<string> {
  const found = new Set<string>();
  const walk = (path: string) => {
    if (!existsSync(path)) return;
    found.add(path);
    if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  for (const path of HOST_PATHS) walk(path);
  return found;
}

function newHostFiles(before: Set<string>): string[] {
  return [...snapshotHostPaths()].filter((path) => !before.has(path));
}

function removeNewHostFiles(before: Set<string>): void {
  // Deepest first, so that a directory is empty by the time it is reached.
  for (const path of newHostFiles(before).sort((a, b) => b.length - a.length)) rmSync(path, { recursive: true, force: true });
}

function leftoversOf(parts: { dir: string; name: string; netnsBefore: Set<string>; hostPathsBefore: Set<string>; processes: Proc[] }): string[] {
  const found: string[] = [];
  for (const proc of parts.processes) if (proc.isRunning()) found.push(`process ${proc.name} (${proc.pid})`);
  for (const pid of pidsWhoseCommandLineHas(parts.dir)) found.push(`process ${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 200)}`);
  for (const mount of mountsUnder(parts.dir)) found.push(`mount ${mount}`);
  for (const netns of listNetns()) {
    if (netns === parts.name || (netns.startsWith('cni-') && !parts.netnsBefore.has(netns))) found.push(`network namespace ${netns}`);
  }
  for (const cgroup of kubepodsCgroups()) found.push(`cgroup ${cgroup}`);
  for (const path of newHostFiles(parts.hostPathsBefore)) found.push(`file ${path}`);
  return found;
}
