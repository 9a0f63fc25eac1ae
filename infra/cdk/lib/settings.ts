import { z } from 'zod';
import { topology } from './topology';

/** A context value that is not there: not given, or given empty (`-c key=`). */
const given = (value: unknown): unknown => (value === undefined || value === null || value === '' ? undefined : value);

/**
 * Building blocks for CDK context settings. Each takes what `cdk deploy -c key=value` gives (a
 * string) and what the `context` block of cdk.json gives (a JSON number, boolean or array) alike.
 */
export const contextSetting = {
  /** A string of a given form; without a fallback, unset stays undefined. */
  text: (pattern: RegExp, expected: string) => z.preprocess(given, z.string(expected).regex(pattern, expected).optional()),
  textOr: (fallback: string, pattern: RegExp, expected: string) => z.preprocess(given, z.string(expected).regex(pattern, expected).default(fallback)),
  /** Any string, such as an image URI that a registry, not this app, decides the form of. */
  anyText: () => z.preprocess(given, z.string('expected a string').optional()),
  integer: (fallback: number, min: number, max: number) => {
    const expected = `expected an integer from ${min} to ${max}`;
    return z.preprocess(given, z.coerce.number(expected).int(expected).min(min, expected).max(max, expected).default(fallback));
  },
  oneOf: (fallback: number, values: readonly number[]) => {
    const expected = `expected one of ${values.join(', ')}`;
    return z.preprocess(given, z.coerce.number(expected).refine((n) => values.includes(n), expected).default(fallback));
  },
  boolean: (fallback: boolean) =>
    z.preprocess(given, z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')], 'expected true or false').default(fallback)),
  /** `-c key=a,b` on the command line, or a JSON array in cdk.json; blanks around items are dropped. */
  list: (fallback: string[], pattern: RegExp, expected: string) =>
    z.preprocess(
      (value) => {
        const present = given(value);
        const items = typeof present === 'string' ? present.split(',') : present;
        if (!Array.isArray(items)) return items;
        return (items as unknown[]).map((item) => (typeof item === 'string' ? item.trim() : item)).filter((item) => item !== '');
      },
      z.array(z.string(expected).regex(pattern, expected), 'expected a comma-separated list').default(fallback),
    ),
};

const IPV4_CIDR = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(3[0-2]|[12]?\d)$/;

/** The values CloudWatch Logs accepts as a retention period (PutRetentionPolicy's retentionInDays). */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/**
 * What a user changes between deployments, read from CDK context (`cdk deploy -c key=value`, or
 * the `context` block of cdk.json), with its default, so a bare `cdk deploy` works. A new setting
 * is one line here and one row in infra/cdk/README.md's table (a test compares the two).
 */
export const settingsSchema = z
  .object({
    /** AWS region; when unset, the region of the AWS CLI profile (CDK_DEFAULT_REGION). */
    region: contextSetting.text(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'expected a region like eu-west-1'),
    /** EKS cluster name; also names the cache and the control-plane log group. */
    clusterName: contextSetting.textOr('orders', /^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/, 'expected letters, digits, - and _'),
    /** Availability zones for the VPC, the nodes and the cache; daprHa needs 3 (checked below). */
    maxAzs: contextSetting.integer(3, 2, 3),
    /** NAT gateways: 1 is cheapest, one per AZ survives an AZ outage; at most maxAzs (checked below). */
    natGateways: contextSetting.integer(1, 1, 3),
    /** CIDRs allowed to reach the Kubernetes API endpoint (kubectl). */
    apiAllowedCidrs: contextSetting.list(['0.0.0.0/0'], IPV4_CIDR, 'expected IPv4 CIDRs like 203.0.113.0/24'),
    /** CIDRs allowed to connect to the order-store load balancer. */
    allowedClientCidrs: contextSetting.list(['0.0.0.0/0'], IPV4_CIDR, 'expected IPv4 CIDRs like 203.0.113.0/24'),
    /** An ACM certificate for domainName: the load balancer then listens with TLS on 443 instead of HTTP on 80. */
    certificateArn: contextSetting.text(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, 'expected an ACM certificate ARN like arn:aws:acm:eu-west-1:123456789012:certificate/<id>'),
    /** The name clients use for the load balancer, which certificateArn covers; you point it at the NLB (CNAME). */
    domainName: contextSetting.text(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'expected a DNS name like orders.example.com'),
    /** IAM principal ARNs (users or roles) given cluster-admin access entries. */
    adminPrincipalArns: contextSetting.list([], /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/.+$/, 'expected IAM role or user ARNs'),
    /** Dapr control plane version, also its Helm chart version. */
    daprVersion: contextSetting.textOr(topology.daprVersion, /^\d+\.\d+\.\d+$/, 'expected a version like 1.18.2'),
    /** Run the Dapr control plane with three replicas of each service, one per zone. */
    daprHa: contextSetting.boolean(true),
    orderStoreReplicas: contextSetting.integer(2, 1, 50),
    /** 0 stops the traffic. */
    orderGeneratorReplicas: contextSetting.integer(1, 0, 50),
    /** A prebuilt order-store image URI; when unset, the Dockerfile is built on deploy with APP=order-store. */
    orderStoreImage: contextSetting.anyText(),
    /** A prebuilt order-generator image URI; when unset, the Dockerfile is built on deploy with APP=order-generator. */
    orderGeneratorImage: contextSetting.anyText(),
    /** Require a bearer token for writes through the load balancer. */
    writeToken: contextSetting.boolean(true),
    /** Upper bound on the cache's stored data, in GB: a cost ceiling. */
    cacheMaxDataStorageGb: contextSetting.integer(1, 1, 5000),
    /** Upper bound on the cache's ElastiCache Processing Units per second: a cost ceiling. */
    cacheMaxEcpuPerSecond: contextSetting.integer(5000, 1000, 15_000_000),
    /** Where the CloudWatch alarms send email (an SNS subscription to confirm); unset, they only show in the console. */
    alarmEmail: contextSetting.text(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'expected an email address'),
    /** Days to keep control-plane, container and VPC flow logs. */
    logRetentionDays: contextSetting.oneOf(7, RETENTION_DAYS),
  })
  .superRefine((settings, check) => {
    // Three raft members (Dapr's scheduler, placement) over two zones: the zone with two takes
    // the quorum with it.
    if (settings.daprHa && settings.maxAzs < 3) {
      check.addIssue({ code: 'custom', path: ['maxAzs'], message: 'expected 3 with daprHa=true (one Dapr raft member per zone), or set -c daprHa=false' });
    }
    if (settings.natGateways > settings.maxAzs) {
      check.addIssue({ code: 'custom', path: ['natGateways'], message: `expected an integer from 1 to ${settings.maxAzs} (maxAzs)` });
    }
    // The certificate's name is what clients must connect to for TLS to verify: one needs the other.
    if ((settings.certificateArn === undefined) !== (settings.domainName === undefined)) {
      const missing = settings.certificateArn === undefined ? 'certificateArn' : 'domainName';
      check.addIssue({ code: 'custom', path: [missing], message: 'expected certificateArn and domainName together' });
    }
  });

export type Settings = z.output<typeof settingsSchema>;

/** A context reader: `node.tryGetContext`, or a plain lookup in tests. */
export type ContextReader = (key: string) => unknown;

/** Thrown when a context value does not parse; the message names each bad key and what it expects. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

/** Reads and validates every setting of {@link settingsSchema}, applying its defaults. */
export function readSettings(context: ContextReader, env: NodeJS.ProcessEnv = process.env): Settings {
  const values = Object.fromEntries(Object.keys(settingsSchema.shape).map((key) => [key, context(key)]));
  const result = settingsSchema.safeParse(values);
  if (!result.success) {
    throw new SettingsError(
      result.error.issues.map((issue) => `context ${issue.path.join('.')}: ${issue.message}, got ${JSON.stringify(values[String(issue.path[0])])}`).join('\n'),
    );
  }
  const region = result.data.region ?? env.CDK_DEFAULT_REGION;
  const { region: _unset, ...settings } = result.data;
  return region ? { region, ...settings } : settings;
}
