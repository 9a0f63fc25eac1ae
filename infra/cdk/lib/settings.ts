import { topology } from './topology';

/**
 * What a user changes between deployments, read from CDK context (`cdk deploy -c key=value`, or
 * the `context` block of cdk.json). Every setting has a default, so a bare `cdk deploy` works;
 * the README's "Deploy to AWS" table lists the same keys.
 */
export interface Settings {
  /** AWS region. @default the region of the AWS CLI profile (CDK_DEFAULT_REGION) */
  readonly region?: string;
  /** EKS cluster name; also names the control-plane log group. @default 'orders' */
  readonly clusterName: string;
  /** Availability zones for the VPC, the nodes and the cache (2 or 3). @default 2 */
  readonly maxAzs: number;
  /** NAT gateways: 1 is cheapest, one per AZ survives an AZ outage. @default 1 */
  readonly natGateways: number;
  /** CIDRs allowed to reach the Kubernetes API endpoint (kubectl). @default ['0.0.0.0/0'] */
  readonly apiAllowedCidrs: string[];
  /** CIDRs allowed to connect to the order-store load balancer. @default ['0.0.0.0/0'] */
  readonly allowedClientCidrs: string[];
  /** IAM principal ARNs (users or roles) given cluster-admin access entries. @default [] */
  readonly adminPrincipalArns: string[];
  /** Dapr control plane version, also its Helm chart version. @default topology.daprVersion */
  readonly daprVersion: string;
  /** Run the Dapr control plane with three replicas of each service. @default false */
  readonly daprHa: boolean;
  /** order-store replicas. @default 2 */
  readonly orderStoreReplicas: number;
  /** order-generator replicas. @default 1 */
  readonly orderGeneratorReplicas: number;
  /** A prebuilt order-store image URI instead of building apps/order-store/Dockerfile. @default built on deploy */
  readonly orderStoreImage?: string;
  /** A prebuilt order-generator image URI instead of building its Dockerfile. @default built on deploy */
  readonly orderGeneratorImage?: string;
  /** Require a bearer token for writes through the load balancer. @default true */
  readonly writeToken: boolean;
  /** Upper bound on the cache's stored data, in GB: a cost ceiling. @default 1 */
  readonly cacheMaxDataStorageGb: number;
  /** Upper bound on the cache's ElastiCache Processing Units per second: a cost ceiling. @default 5000 */
  readonly cacheMaxEcpuPerSecond: number;
  /** Days to keep control-plane and VPC flow logs. @default 7 */
  readonly logRetentionDays: number;
}

/** A context reader: `node.tryGetContext`, or a plain lookup in tests. */
export type ContextReader = (key: string) => unknown;

/** Thrown when a context value does not parse; the message names the key and what it expects. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

/** Reads and validates every setting, applying the defaults documented on {@link Settings}. */
export function readSettings(context: ContextReader, env: NodeJS.ProcessEnv = process.env): Settings {
  const str = (key: string): string | undefined => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new SettingsError(`context ${key}: expected a string, got ${JSON.stringify(value)}`);
    return value;
  };
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return fallback;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new SettingsError(`context ${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return fallback;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw new SettingsError(`context ${key}: expected true or false, got ${JSON.stringify(value)}`);
  };
  // `-c key=a,b` on the command line, or a JSON array in cdk.json.
  const list = (key: string, fallback: string[], check?: (item: string) => boolean, expected = ''): string[] => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return fallback;
    const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
    if (!items || !items.every((item): item is string => typeof item === 'string')) {
      throw new SettingsError(`context ${key}: expected a comma-separated list, got ${JSON.stringify(value)}`);
    }
    const trimmed = items.map((item) => item.trim()).filter((item) => item !== '');
    const bad = check ? trimmed.filter((item) => !check(item)) : [];
    if (bad.length > 0) throw new SettingsError(`context ${key}: expected ${expected}, got ${JSON.stringify(bad)}`);
    return trimmed;
  };

  const clusterName = str('clusterName') ?? 'orders';
  if (!/^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/.test(clusterName)) {
    throw new SettingsError(`context clusterName: expected letters, digits, - and _, got ${JSON.stringify(clusterName)}`);
  }
  const daprVersion = str('daprVersion') ?? topology.daprVersion;
  if (!/^\d+\.\d+\.\d+$/.test(daprVersion)) {
    throw new SettingsError(`context daprVersion: expected a version like 1.18.2, got ${JSON.stringify(daprVersion)}`);
  }
  const maxAzs = int('maxAzs', 2, 2, 3);
  const region = str('region') ?? env.CDK_DEFAULT_REGION;

  return {
    ...(region ? { region } : {}),
    clusterName,
    maxAzs,
    natGateways: int('natGateways', 1, 1, maxAzs),
    apiAllowedCidrs: list('apiAllowedCidrs', ['0.0.0.0/0'], isIpv4Cidr, 'IPv4 CIDRs like 203.0.113.0/24'),
    allowedClientCidrs: list('allowedClientCidrs', ['0.0.0.0/0'], isIpv4Cidr, 'IPv4 CIDRs like 203.0.113.0/24'),
    adminPrincipalArns: list(
      'adminPrincipalArns',
      [],
      (arn) => /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/.+$/.test(arn),
      'IAM role or user ARNs',
    ),
    daprVersion,
    daprHa: bool('daprHa', false),
    orderStoreReplicas: int('orderStoreReplicas', 2, 1, 50),
    orderGeneratorReplicas: int('orderGeneratorReplicas', 1, 0, 50),
    ...optional('orderStoreImage', str('orderStoreImage')),
    ...optional('orderGeneratorImage', str('orderGeneratorImage')),
    writeToken: bool('writeToken', true),
    cacheMaxDataStorageGb: int('cacheMaxDataStorageGb', 1, 1, 5000),
    cacheMaxEcpuPerSecond: int('cacheMaxEcpuPerSecond', 5000, 1000, 15_000_000),
    logRetentionDays: retention(int('logRetentionDays', 7, 1, 3653)),
  };
}

// The values CloudWatch Logs accepts as a retention period.
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

function retention(days: number): number {
  if (!RETENTION_DAYS.includes(days)) {
    throw new SettingsError(`context logRetentionDays: expected one of ${RETENTION_DAYS.join(', ')}, got ${days}`);
  }
  return days;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function isIpv4Cidr(value: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!match) return false;
  const [, a, b, c, d, bits] = match.map(Number);
  return [a, b, c, d].every((octet) => octet !== undefined && octet <= 255) && bits !== undefined && bits <= 32;
}
