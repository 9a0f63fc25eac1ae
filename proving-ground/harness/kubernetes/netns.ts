import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A network namespace the test creates and removes, with no route out: inside it only `lo` and a
 * veth pair whose two ends both stay inside (this kernel has no `dummy` link type, and kubelet
 * will not take a loopback address for its node). The node's address is on one end; the default
 * route points at an address nobody has, so a packet for anywhere else goes nowhere. No interface
 * of it is connected to the host's network.
 */
export interface NetworkNamespace {
  name: string;
  /** /var/run/netns/<name>, for `nsenter --net=`. */
  path: string;
  /** The node's IP address inside the namespace. */
  address: string;
  /**
   * The command line that runs `command args` inside the namespace: `nsenter --net` switches the
   * network namespace only. (`ip netns exec` would also unshare the mount namespace and remount
   * /sys, which hides the cgroup hierarchy from kubelet and containerd.)
   */
  enter(command: string, args: string[]): { command: string; args: string[] };
  /** Runs a command inside the namespace and resolves with its output; fails with an ExecError. */
  exec(command: string, args: string[], options?: ExecOptions): Promise<{ stdout: string; stderr: string }>;
  /**
   * Gives the node's end one more address, the index-th of EXTRA_ADDRESSES_FROM on (outside the Pod
   * and Service networks, like the node's), and resolves with it: for servers that each need a
   * well-known port to themselves (the cache stand-in's nodes, all on 6379). Gone with the namespace.
   */
  addAddress(index: number): Promise<string>;
  remove(): Promise<void>;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** A command run in the namespace failed: the message carries its stderr, `exitCode` its status (none when it was killed or never ran). */
export class ExecError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | undefined,
    options: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const NODE_ADDRESS = '10.99.0.1';
const NODE_PREFIX = 24;
/** In the node's subnet, never assigned: the default route's next hop, a black hole. */
const NOWHERE = '10.99.0.254';
/** The last octet of the first address addAddress gives, in the node's subnet. */
const EXTRA_ADDRESSES_FROM = 11;

export async function createNetworkNamespace(name: string): Promise<NetworkNamespace> {
  const path = `/var/run/netns/${name}`;
  const ip = (args: string[]) => run('ip', args);
  const enter = (command: string, args: string[]) => ({ command: 'nsenter', args: [`--net=${path}`, '--', command, ...args] });
  const exec = async (command: string, args: string[], options: ExecOptions = {}) => {
    const wrapped = enter(command, args);
    try {
      const child = run(wrapped.command, wrapped.args, { maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000, env: options.env ?? process.env });
      if (options.input !== undefined) child.child.stdin?.end(options.input);
      const { stdout, stderr } = await child;
      return { stdout, stderr };
    } catch (error) {
      const failed = error as { stderr?: string; stdout?: string; message: string; code?: unknown };
      const exitCode = typeof failed.code === 'number' ? failed.code : undefined;
      throw new ExecError(`${command} ${args.join(' ')} failed: ${failed.stderr?.trim() || failed.stdout?.trim() || failed.message}`, exitCode, { cause: error });
    }
  };
  const remove = async () => {
    if (existsSync(path)) await ip(['netns', 'delete', name]);
  };
  const addAddress = async (index: number) => {
    const last = EXTRA_ADDRESSES_FROM + index;
    if (!Number.isInteger(index) || index < 0 || last >= 254) throw new Error(`no extra address with index ${index} in ${NODE_ADDRESS}/${NODE_PREFIX}`);
    const address = NODE_ADDRESS.replace(/\d+$/, String(last));
    await ip(['-n', name, 'addr', 'add', `${address}/32`, 'dev', 'node0']);
    return address;
  };
  await ip(['netns', 'add', name]);
  try {
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    await ip(['-n', name, 'link', 'add', 'node0', 'type', 'veth', 'peer', 'name', 'node0-peer']);
    await ip(['-n', name, 'addr', 'add', `${NODE_ADDRESS}/${NODE_PREFIX}`, 'dev', 'node0']);
    await ip(['-n', name, 'link', 'set', 'node0-peer', 'up']);
    await ip(['-n', name, 'link', 'set', 'node0', 'up']);
    // kubelet and kube-proxy want a default route to pick the node's address by.
    await ip(['-n', name, 'route', 'add', 'default', 'via', NOWHERE, 'dev', 'node0', 'onlink']);
    // Pods reach Services and each other through the node: it forwards between cni0 and itself.
    // These knobs are the namespace's own; the host's stay as they are.
    await exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // Pod -> ClusterIP -> Pod on the same bridge goes through iptables only with this.
    await exec('sh', ['-c', 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables']);
  } catch (error) {
    await remove();
    throw error;
  }
  return { name, path, address: NODE_ADDRESS, enter, exec, addAddress, remove };
}
