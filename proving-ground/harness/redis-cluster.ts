import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { topology } from '@orders/common';
import { clientAccessString } from '../../infra/cdk/lib/cache';
import { cacheCredentialsOf, DEPLOY_DIR, parseManifest } from '../../infra/cdk/lib/manifests';
import { type CacheClientUser, STAND_IN_ADMIN, serverlessRestrictions } from './elasticache-serverless';
import type { NetworkNamespace } from './kubernetes/netns';
import { type Proc, awaitReady, freePort, startProcess, waitFor } from '../../dev/src/processes';

const run = promisify(execFile);

/**
 * A local stand-in for ElastiCache Serverless: a Redis Cluster of three primaries, each with a
 * replica, that speaks only TLS (clients and cluster bus alike, with a certificate from a CA of
 * its own) and refuses the commands a serverless cache refuses (harness/elasticache-serverless.ts).
 * A serverless cache is replicated across Availability Zones, and its primaries say so in
 * `INFO replication`, which is what Dapr's Redis state store reads to decide whether to WAIT.
 *
 * Where it differs: a serverless cache shows clients one virtual node owning all 16384 slots (and
 * a reader port, 6380); here three primaries own a third each, which is stricter: a command that
 * spans slots fails here as it does there, and a client that does not follow MOVED fails here only.
 *
 * On 127.0.0.1 the nodes have free ports of their own. Inside a network namespace every node has an
 * address of its own there and ElastiCache's port, 6379: deploy/'s NetworkPolicies let order-store
 * reach the cache on that port only, and a node enforces them.
 */
export interface RedisTlsCluster {
  /** The primaries' TLS ports; there is no plaintext port (`--port 0`). Inside a namespace all 6379: use `primaries`. */
  ports: number[];
  /** The replicas' TLS ports, one per primary. */
  replicaPorts: number[];
  /** The primaries' addresses and ports. */
  primaries: CacheNode[];
  /** The replicas' addresses and ports, one per primary. */
  replicas: CacheNode[];
  /** `<host>:<port>` of the first primary: a seed address, the form Dapr's redisHost takes. */
  address: string;
  /** The first primary's address: 127.0.0.1, or one of the network namespace's. */
  host: string;
  /** redis-cli over TLS to one node (a port on 127.0.0.1, or a node) as the client user, where the nodes are (inside the namespace, if any). */
  cli(node: number | CacheNode, args: string[], timeoutMs?: number): Promise<string>;
  /** The one user clients may sign in as (deploy/statestore.yaml's redisUsername), with its password. */
  client: CacheClientUser;
  /** The CA that signed the servers' certificate (PEM file); clients must trust it. Removed by stop(). */
  caPath: string;
  dir: string;
  procs: Proc[];
  /** redis-cli to one node as the stand-in's own administrator, for what clients may not run (CONFIG GET). */
  adminCli(node: number | CacheNode, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** One node of the cluster, where clients reach it. */
export interface CacheNode {
  host: string;
  port: number;
}

/** ElastiCache's port (the primary endpoint's), which every node has inside a network namespace. */
export const CACHE_PORT = 6379;

export interface RedisTlsClusterOptions {
  /** Primaries; three by default, the fewest `redis-cli --cluster create` accepts. */
  masters?: number;
  /**
   * Runs the nodes inside this network namespace, each on an address of its own there (outside the
   * Pod network) and port 6379: the cache as Pods of a node in it reach it.
   */
  network?: NetworkNamespace;
  /** Replicas of each primary; one by default. */
  replicasPerMaster?: number;
}

/** A CA and a server certificate for 127.0.0.1, localhost and `hosts`, signed by that CA. */
async function makeCertificates(dir: string, hosts: string[]): Promise<{ caPath: string; certPath: string; keyPath: string }> {
  const caKey = join(dir, 'ca.key');
  const caPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certPath = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir, timeout: 30_000 });
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caPath,
    '-days', '2', '-subj', '/CN=orders test cache CA']);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', csr, '-subj', '/CN=localhost']);
  writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...hosts.filter((host) => host !== '127.0.0.1').map((host) => `IP:${host}`)].join(',')}`,
    '',
  ].join('\n'));
  await openssl(['x509', '-req', '-in', csr, '-CA', caPath, '-CAkey', caKey, '-CAcreateserial', '-out', certPath,
    '-days', '2', '-sha256', '-extfile', ext]);
  return { caPath, certPath, keyPath };
}

/** Credentials for redis-cli: none is the `default` user. */
export interface CliUser {
  readonly username: string;
  readonly password: string;
}

/** redis-cli over TLS to one node (a port on 127.0.0.1, or a node), as `user` or else unauthenticated (the default user); resolves with its stdout. */
export async function tlsCli(node: number | CacheNode, caPath: string, args: string[], timeoutMs = 5_000, network?: NetworkNamespace, user?: CliUser): Promise<string> {
  const auth = user ? ['--user', user.username, '--pass', user.password, '--no-auth-warning'] : [];
  const { host, port } = typeof node === 'number' ? { host: '127.0.0.1', port: node } : node;
  const argv = ['--tls', '--cacert', caPath, '-h', host, '-p', String(port), ...auth, ...args];
  if (network) return (await network.exec('redis-cli', argv, { timeoutMs })).stdout;
  const { stdout } = await run('redis-cli', argv, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function redisVersion(): Promise<string> {
  const { stdout } = await run('redis-server', ['--version'], { timeout: 5_000 });
  const version = /v=(\d+\.\d+\.\d+)/.exec(stdout)?.[1];
  if (!version) throw new Error(`cannot read the Redis version from: ${stdout}`);
  return version;
}

export async function startRedisTlsCluster(options: RedisTlsClusterOptions = {}): Promise<RedisTlsCluster> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const { network } = options;
  const count = masters * (1 + replicasPerMaster);
  // Inside a namespace, one address per node, so that every node can have port 6379.
  const hosts = network ? await Promise.all(Array.from({ length: count }, (_, index) => network.addAddress(index))) : Array.from({ length: count }, () => '127.0.0.1');
  const dir = mkdtempSync(join(tmpdir(), 'orders-redis-cluster-'));
  const { caPath, certPath, keyPath } = await makeCertificates(dir, hosts);
  const adminPassword = randomBytes(16).toString('hex');
  const username = cacheCredentialsOf(parseManifest(join(DEPLOY_DIR, 'statestore.yaml')), topology.stateStore).username;
  const client: CacheClientUser = { username, password: randomBytes(24).toString('hex'), accessString: clientAccessString(username) };
  const restrictions = serverlessRestrictions(await redisVersion(), adminPassword, client);
  const nodes: CacheNode[] = [];
  // A bare port is a node on 127.0.0.1 (the callers outside a namespace, where ports are unique).
  const nodeOf = (node: number | CacheNode): CacheNode => (typeof node === 'number' ? nodes.find((n) => n.port === node) ?? { host: '127.0.0.1', port: node } : node);
  const cli = (node: number | CacheNode, args: string[], timeoutMs = 5_000) => tlsCli(nodeOf(node), caPath, args, timeoutMs, network, client);
  const adminCli = (node: number | CacheNode, args: string[]) => tlsCli(nodeOf(node), caPath, args, 5_000, network, { username: STAND_IN_ADMIN, password: adminPassword });
  const answersPing = (node: CacheNode) => cli(node, ['PING'], 2_000).then((out) => out.trim() === 'PONG', () => false);
  const clusterOk = (node: CacheNode) => cli(node, ['CLUSTER', 'INFO'], 2_000).then((out) => /cluster_state:ok/.test(out), () => false);
  const named = (node: CacheNode) => `${node.host}:${node.port}`;
  const procs: Proc[] = [];
  const stop = async () => {
    await Promise.all(procs.map((proc) => proc.stop(5_000)));
    // The CA's private key and the nodes' files are of no use once the servers are gone.
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const host of hosts) {
      const port = network ? CACHE_PORT : await freePort();
      // The bus port defaults to port + 10000, past 65535 for much of the ephemeral range.
      const busPort = network ? CACHE_PORT + 10000 : await freePort();
      const node = { host, port };
      const nodeDir = join(dir, `node-${host}-${port}`);
      mkdirSync(nodeDir);
      const serverArgs = [
        '--port', '0',
        '--tls-port', String(port),
        '--cluster-port', String(busPort),
        '--bind', host,
        // Reachable from the cluster's network (here, a namespace with no way in from outside);
        // the default user is off, so protected mode, which guards a passwordless default user, is moot.
        ...(network ? ['--protected-mode', 'no', '--cluster-announce-ip', host] : []),
        '--dir', nodeDir,
        '--tls-cert-file', certPath,
        '--tls-key-file', keyPath,
        '--tls-ca-cert-file', caPath,
        // Like ElastiCache: the server proves who it is, clients need no certificate.
        '--tls-auth-clients', 'no',
        '--tls-cluster', 'yes',
        '--tls-replication', 'yes',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(nodeDir, 'nodes.conf'),
        '--save', '',
        '--appendonly', 'no',
        ...restrictions,
      ];
      const command = network ? network.enter('redis-server', serverArgs) : { command: 'redis-server', args: serverArgs };
      const proc = startProcess(`redis-cluster:${named(node)}`, command.command, command.args);
      procs.push(proc);
      nodes.push(node);
      await awaitReady(proc, `redis cluster node on ${named(node)} (TLS)`, () => answersPing(node), 15_000);
    }

    const createArgs = [
      '--tls', '--cacert', caPath, '--user', STAND_IN_ADMIN, '--pass', adminPassword, '--no-auth-warning',
      '--cluster', 'create', ...nodes.map(named),
      '--cluster-replicas', String(replicasPerMaster), '--cluster-yes',
    ];
    if (network) await network.exec('redis-cli', createArgs, { timeoutMs: 30_000 });
    else await run('redis-cli', createArgs, { timeout: 30_000 });
    // Every node must agree that all slots are served before a client can rely on any of them.
    for (const [index, node] of nodes.entries()) {
      await waitFor(`cluster_state:ok on ${named(node)}`, () => clusterOk(node), 30_000, procs[index]);
    }
    // redis-cli picks the primaries and then makes the others their replicas, which takes a
    // moment; CLUSTER NODES says who is what: `<id> <ip>:<port>@<bus> <flags> <primary> ...`.
    let primaries: CacheNode[] = [];
    await waitFor(`${masters} primaries with ${replicasPerMaster} replica(s) each`, async () => {
      const listed = await cli(nodes[0]!, ['CLUSTER', 'NODES']).catch(() => '');
      const roles = [...listed.matchAll(/^\S+ ([\d.]+):(\d+)@\d+ (?:myself,)?(master|slave)\b/gm)];
      primaries = roles.filter((role) => role[3] === 'master').map((role) => ({ host: role[1]!, port: Number(role[2]) }));
      return primaries.length === masters && roles.length === nodes.length;
    }, 30_000, procs[0]);
    // Dapr's state store counts replicas once, when it starts: a replica still syncing would hide
    // them from it, as they are never hidden on a serverless cache.
    for (const primary of primaries) {
      await waitFor(`${replicasPerMaster} replica(s) of ${named(primary)} in sync`, async () => {
        const info = await adminCli(primary, ['INFO', 'replication']).catch(() => '');
        return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === replicasPerMaster;
      }, 30_000, procs[nodes.findIndex((node) => named(node) === named(primary))]);
    }
    const replicas = nodes.filter((node) => !primaries.some((primary) => named(primary) === named(node)));
    const [seed] = primaries as [CacheNode, ...CacheNode[]];
    return {
      ports: primaries.map((node) => node.port),
      replicaPorts: replicas.map((node) => node.port),
      primaries,
      replicas,
      address: named(seed),
      host: seed.host,
      cli,
      client,
      caPath,
      dir,
      procs,
      adminCli,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Every key of one node matching a pattern, by SCAN: KEYS is @dangerous, which the client user,
 * like ElastiCache's (clientAccessString in infra/cdk/lib/cache.ts), may not run.
 */
export async function scanKeys(node: { scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]> }, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}
