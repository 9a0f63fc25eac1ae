import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Proc, awaitReady, answers, freePort, startProcess } from '../../../dev/src/processes';
import { kubeBinary } from './binaries';
import { type ClusterCertificates, makeClusterCertificates } from './certificates';
import type { NetworkNamespace } from './netns';
import { type PrivateMounts, withPrivateMounts } from './private-mounts';

const run = promisify(execFile);

/** The cluster domain Dapr and Kubernetes default to; the service-account issuer is named in it. */
export const CLUSTER_DOMAIN = 'cluster.local';

/**
 * etcd, kube-apiserver and kube-controller-manager on free loopback ports: a Kubernetes API server
 * that stores, defaults, validates and admits objects exactly as a cluster's does (Pod Security
 * admission, mutating webhooks, CRD schemas), and the controllers that turn Deployments into Pods.
 * There is no scheduler and no kubelet: Pods are created and stay Pending, which is all the tests
 * look at.
 */
export interface ControlPlane {
  dir: string;
  certificates: ClusterCertificates;
  /** https://127.0.0.1:<port> */
  server: string;
  kubeconfig: string;
  processes: Proc[];
  /** Runs kubectl against this API server; throws with kubectl's stderr when it fails. */
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  /** kubectl with `-o json`, parsed. */
  kubectlJson<T>(args: string[]): Promise<T>;
  /** GET on the API server as the admin; the response body, or an error naming the status. */
  get(path: string): Promise<string>;
  stop(): Promise<void>;
}

export interface KubectlResult {
  stdout: string;
  /** Warnings the API server sent (Pod Security's among them) and kubectl's own notes. */
  stderr: string;
}

export interface ControlPlaneOptions {
  dir: string;
  /** The hosts file kube-apiserver resolves names with: webhooks are called by host name. */
  hosts?: string;
  /**
   * Runs etcd, kube-apiserver, the controller-manager and kubectl inside this network namespace,
   * the API server on its node address, as the control plane of a node there (harness/kubernetes/node.ts):
   * it keeps the `kubernetes` Service's endpoints, and reaches kubelets by their InternalIP.
   */
  network?: NetworkNamespace;
}

/** The `kubernetes` Service's ClusterIP: the first address of the Service range. */
export const SERVICE_CIDR = '10.96.0.0/16';
export const API_SERVICE_IP = '10.96.0.1';
/** The API server's port on a node's address. */
const NODE_API_PORT = 6443;

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { dir, network } = options;
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const certificates = await makeClusterCertificates(join(dir, 'pki'), network ? [network.address, API_SERVICE_IP] : []);
  /** startProcess, inside the node's network namespace when there is one. */
  const start = (name: string, command: string, args: string[], mounts: PrivateMounts = {}) => {
    const inMounts = Object.keys(mounts).length > 0 ? withPrivateMounts(mounts, command, args) : { command, args };
    const wrapped = network ? network.enter(inMounts.command, inMounts.args) : inMounts;
    return startProcess(name, wrapped.command, wrapped.args);
  };
  const processes: Proc[] = [];
  const stop = async () => {
    // The reverse of the start order: clients first, etcd last.
    for (const proc of [...processes].reverse()) await proc.stop(10_000);
  };

  try {
    const etcdClientPort = await freePort();
    const etcdPeerPort = await freePort();
    const etcd = start('etcd', kubeBinary('etcd'), [
      '--name', 'orders-test',
      '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdClientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${etcdClientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
      '--initial-cluster', `orders-test=http://127.0.0.1:${etcdPeerPort}`,
      // The data lives as long as the test; fsync would only slow a busy machine down.
      '--unsafe-no-fsync',
      '--log-level', 'warn',
    ]);
    processes.push(etcd);
    const etcdHealthy = network
      ? () => network.exec('curl', ['-sf', `http://127.0.0.1:${etcdClientPort}/health`], { timeoutMs: 5_000 }).then(() => true)
      : () => answers(`http://127.0.0.1:${etcdClientPort}/health`);
    await awaitReady(etcd, 'etcd health', etcdHealthy, 60_000);

    const apiAddress = network?.address ?? '127.0.0.1';
    const apiPort = network ? NODE_API_PORT : await freePort();
    const server = `https://${apiAddress}:${apiPort}`;
    const issuer = `https://kubernetes.default.svc.${CLUSTER_DOMAIN}`;
    const apiserver = start('kube-apiserver', kubeBinary('kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${etcdClientPort}`,
      `--bind-address=${apiAddress}`,
      `--advertise-address=${apiAddress}`,
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver')}`,
      `--tls-cert-file=${certificates.serverCert}`,
      `--tls-private-key-file=${certificates.serverKey}`,
      `--client-ca-file=${certificates.caCert}`,
      `--service-account-issuer=${issuer}`,
      `--service-account-key-file=${certificates.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${certificates.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      ...(network
        ? [
            // A kubelet is authorized as its node, and may touch only its own Node and Pods.
            '--authorization-mode=Node,RBAC',
            '--enable-admission-plugins=NodeRestriction',
            // For logs, exec and port-forward. By name, the API server would ask the host's
            // resolver, which no packet from the namespace reaches (a 5 s timeout each time).
            '--kubelet-preferred-address-types=InternalIP',
            `--kubelet-client-certificate=${certificates.adminCert}`,
            `--kubelet-client-key=${certificates.adminKey}`,
          ]
        : [
            '--authorization-mode=RBAC',
            // There is one API server and no kube-proxy: no endpoints of its own to keep.
            '--endpoint-reconciler-type=none',
          ]),
      // The default admission plugins stay as they are: PodSecurity, ServiceAccount and the
      // webhooks are what the tests are about.
      '--profiling=false',
    ], options.hosts ? { hosts: options.hosts } : {});
    processes.push(apiserver);

    const kubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfig, kubeconfigFor(server, certificates));
    const get = network
      ? async (path: string) => (await network.exec(kubeBinary('kubectl'), [`--kubeconfig=${kubeconfig}`, 'get', '--raw', path], { timeoutMs: 10_000 })).stdout
      : (path: string) => httpsGet(server, path, certificates);
    await awaitReady(apiserver, 'kube-apiserver /readyz', async () => (await get('/readyz')) === 'ok', 120_000);

    const controllerManagerPort = await freePort();
    const controllerManager = start('kube-controller-manager', kubeBinary('kube-controller-manager'), [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${controllerManagerPort}`,
      `--cert-dir=${join(dir, 'controller-manager')}`,
      '--leader-elect=false',
      // Each controller acts as its own service account, as on EKS: Dapr's injector admits Pods
      // from kube-system's replicaset-controller by that name.
      '--use-service-account-credentials=true',
      `--root-ca-file=${certificates.caCert}`,
      '--profiling=false',
    ]);
    processes.push(controllerManager);

    const kubectl = async (args: string[], input?: string): Promise<KubectlResult> => {
      const command = network ? network.enter(kubeBinary('kubectl'), [`--kubeconfig=${kubeconfig}`, ...args]) : { command: kubeBinary('kubectl'), args: [`--kubeconfig=${kubeconfig}`, ...args] };
      try {
        const child = run(command.command, command.args, { maxBuffer: 64 * 1024 * 1024 });
        if (input !== undefined) child.child.stdin?.end(input);
        const { stdout, stderr } = await child;
        return { stdout, stderr };
      } catch (error) {
        const failed = error as { stderr?: string; message: string };
        throw new Error(`kubectl ${args.join(' ')} failed: ${failed.stderr?.trim() || failed.message}`, { cause: error });
      }
    };
    const kubectlJson = async <T>(args: string[]): Promise<T> => JSON.parse((await kubectl([...args, '-o', 'json'])).stdout) as T;

    // Pods can be created only in namespaces whose `default` ServiceAccount the controller-manager
    // has made; `default` is the first.
    await awaitReady(
      controllerManager,
      'the controller-manager to create the default ServiceAccount',
      async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '--ignore-not-found', '-o', 'name'])).stdout.trim() !== '',
      120_000,
    );

    return { dir, certificates, server, kubeconfig, processes, kubectl, kubectlJson, get, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** startProcess, inside a mount namespace with the given files in place. */
export function startPrivately(name: string, mounts: PrivateMounts, command: string, args: string[], env?: NodeJS.ProcessEnv): Proc {
  const wrapped = withPrivateMounts(mounts, command, args);
  return startProcess(name, wrapped.command, wrapped.args, env ? { env } : {});
}

function kubeconfigFor(server: string, certificates: ClusterCertificates): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'orders-test', cluster: { server, 'certificate-authority': certificates.caCert } }],
    users: [{ name: 'admin', user: { 'client-certificate': certificates.adminCert, 'client-key': certificates.adminKey } }],
    contexts: [{ name: 'orders-test', context: { cluster: 'orders-test', user: 'admin' } }],
    'current-context': 'orders-test',
  });
}

function httpsGet(server: string, path: string, certificates: ClusterCertificates): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server}${path}`,
      {
        ca: readFileSync(certificates.caCert),
        cert: readFileSync(certificates.adminCert),
        key: readFileSync(certificates.adminKey),
        timeout: 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 500)}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}
