/**
 * What ElastiCache Serverless refuses that a plain Redis accepts, as the local stand-in
 * (harness/redis-cluster.ts) refuses it. The source for every entry is AWS's page "Supported and
 * restricted Valkey, Memcached, and Redis OSS commands",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SupportedCommands.html, which lists the
 * commands a serverless cache supports and, under "Restricted Valkey and Redis OSS commands", the
 * ones it refuses (the same restricted list as
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ClientConfig.RestrictedCommands.html).
 * A command on neither list is absent from the supported one, and so refused too.
 *
 * Two ways of refusing, because Redis has two:
 * - `rename-command X ""` removes a whole command from a node's command table: a client gets
 *   `ERR unknown command`, as the issue that found WAIT saw. It is the default here.
 * - An ACL rule on the client user, for what rename-command cannot express: a subcommand
 *   (CLUSTER MEET but not CLUSTER SLOTS), or a command the stand-in itself needs. The replicas
 *   sync with PSYNC, and the harness reads CONFIG and builds the cluster with CLUSTER ADDSLOTS, as
 *   ElastiCache's own control plane does; they do that as a user of their own (STAND_IN_ADMIN).
 *   Clients get `NOPERM` instead of `ERR unknown command`; either way the command does not run.
 *
 * Who may sign in is the CDK app's user group (infra/cdk/lib/cache.ts): one client user with a
 * password and that user's access string, and no `default` user, so a client that does not sign
 * in as it (no password, or a wrong one) is refused. Here the `default` user is off.
 */

/**
 * Refused on a serverless cache, absent from a node's command table. `since` is the Redis version
 * that added the command: older servers have nothing to remove (rename-command of an unknown
 * command is a fatal configuration error).
 */
export const REMOVED_COMMANDS: ReadonlyArray<{ name: string; since?: string; why: string }> = [
  // The restricted list.
  { name: 'BGREWRITEAOF', why: 'restricted' },
  { name: 'BGSAVE', why: 'restricted' },
  { name: 'DEBUG', why: 'restricted' },
  { name: 'MIGRATE', why: 'restricted' },
  { name: 'REPLICAOF', why: 'restricted' },
  { name: 'SLAVEOF', why: 'restricted' },
  { name: 'SAVE', why: 'restricted' },
  { name: 'SHUTDOWN', why: 'restricted' },
  // Not on the supported list. WAIT is the one Dapr's Redis state store sends after a write with
  // `consistency: strong` when the primary reports replicas (components-contrib v1.18.3,
  // state/redis/redis.go, Set).
  { name: 'WAIT', why: 'not supported: a serverless cache replicates on its own' },
  { name: 'WAITAOF', since: '7.2.0', why: 'not supported' },
  { name: 'FAILOVER', why: 'not supported: failover is the service\'s' },
  { name: 'MONITOR', why: 'not supported' },
  { name: 'SWAPDB', why: 'not supported: one database' },
  { name: 'MOVE', why: 'not supported: one database' },
  { name: 'LASTSAVE', why: 'not supported' },
  { name: 'SLOWLOG', why: 'not supported' },
  { name: 'LATENCY', why: 'not supported' },
  { name: 'MODULE', why: 'not supported' },
  { name: 'PFDEBUG', why: 'not supported' },
  { name: 'PFSELFTEST', why: 'not supported' },
];

/** Refused to clients by ACL: still needed by the stand-in's own replication and set-up. */
export const DENIED_TO_CLIENTS: readonly string[] = [
  'config', // restricted
  'sync', // restricted
  'psync', // restricted
  'acl', // ElastiCache manages users through its API (user groups), not ACL SETUSER
];

/**
 * CLUSTER subcommands on the supported list ("Cluster Management Commands"); every other one
 * (MEET, ADDSLOTS, FAILOVER, FORGET, SETSLOT, REPLICATE, RESET, ...) is refused.
 */
export const SUPPORTED_CLUSTER_SUBCOMMANDS: readonly string[] = [
  'countkeysinslot',
  'getkeysinslot',
  'info',
  'keyslot',
  'myid',
  'nodes',
  'replicas',
  'shards',
  'slots',
];

/** The user the stand-in itself connects as, for replication and for building the cluster. */
export const STAND_IN_ADMIN = 'stand-in-admin';

const versionAtLeast = (version: string, since: string) => {
  const [a, b] = [version, since].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if ((a![i] ?? 0) !== (b![i] ?? 0)) return (a![i] ?? 0) > (b![i] ?? 0);
  return true;
};

/** The cache's one client user, as the CDK app creates it: its name, password and access string. */
export interface CacheClientUser {
  readonly username: string;
  readonly password: string;
  /** ElastiCache's access string, which is Redis ACL rules (clientAccessString in infra/cdk/lib/cache.ts). */
  readonly accessString: string;
}

/** redis-server arguments that make a node of a given Redis version refuse what a serverless cache refuses, and admit only `client`. */
export function serverlessRestrictions(redisVersion: string, adminPassword: string, client: CacheClientUser): string[] {
  const removed = REMOVED_COMMANDS.filter(({ since }) => !since || versionAtLeast(redisVersion, since));
  const clientRules = [
    ...client.accessString.split(' '),
    `>${client.password}`,
    ...DENIED_TO_CLIENTS.map((name) => `-${name}`),
    '-cluster', ...SUPPORTED_CLUSTER_SUBCOMMANDS.map((sub) => `+cluster|${sub}`),
  ];
  return [
    ...removed.flatMap(({ name }) => ['--rename-command', name, '']),
    // One argument each: redis-server quotes an argument that holds spaces as a single token.
    '--user', 'default', 'off', 'resetpass', '-@all',
    '--user', client.username, ...clientRules,
    '--user', STAND_IN_ADMIN, 'on', `>${adminPassword}`, '~*', '&*', '+@all',
    // A replica authenticates to its primary as this user, which may PSYNC.
    '--masteruser', STAND_IN_ADMIN,
    '--masterauth', adminPassword,
  ];
}
