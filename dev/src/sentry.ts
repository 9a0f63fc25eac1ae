import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daprBinary } from './dapr-binaries';
import { type Proc, answers, freePort, startProcess, awaitReady } from './processes';

/** Where `npm start` runs Sentry: the address the Dapr CLI gives sidecars when mTLS is on (dapr/cli v1.16.5, pkg/standalone/run.go: sentryDefaultAddress). */
export const localSentryPort = 50001;

export interface Sentry {
  /** `host:port` for daprd's --sentry-address. */
  address: string;
  /** The root certificate daprd must trust (its DAPR_TRUST_ANCHORS). */
  trustAnchors: string;
  proc: Proc;
  stop(): Promise<void>;
}

export interface SentryOptions {
  /** Holds the CA: created on first start and kept, so restarts keep the same trust anchors. */
  dir: string;
  port?: number;
  echo?: NodeJS.WritableStream;
}

// Sentry reads its own Configuration by name, as on Kubernetes; in self-hosted mode it is a file.
const SYSTEM_CONFIG = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: daprsystem
spec:
  mtls:
    enabled: true
    workloadCertTTL: 24h
    allowedClockSkew: 15m
`;

/**
 * How long before its end a kept CA is replaced. Sentry makes a root and an issuer valid for a
 * year (dapr v1.18.2, pkg/sentry/server/ca/bundle/cert.go: defaultCATTL) and, self-hosted, makes
 * new ones only when the files are missing (pkg/sentry/server/ca/ca.go): a kept CA would stop
 * every sidecar a year after the first `npm start`.
 */
export const caRenewalMarginMs = 30 * 24 * 60 * 60 * 1000;

const CA_FILES = ['ca.crt', 'issuer.crt', 'issuer.key'];

/** True when the root or the issuer in this directory is missing, unreadable, or ends within the margin. */
export function caNeedsRenewal(credentials: string, now = new Date()): boolean {
  if (!CA_FILES.every((file) => existsSync(join(credentials, file)))) return true;
  try {
    return ['ca.crt', 'issuer.crt'].some((file) => {
      const certificate = new X509Certificate(readFileSync(join(credentials, file)));
      return certificate.validToDate.getTime() - now.getTime() < caRenewalMarginMs;
    });
  } catch {
    return true;
  }
}

/**
 * Starts Dapr's certificate authority. On a first start Sentry writes a new root and issuer into
 * the directory it also watches, and then keeps reloading them; so a new CA is made by a first
 * run that is stopped once the files exist, and the real run starts on finished files. A CA
 * near its end (caNeedsRenewal) is removed first, so the first run makes a new one.
 */
export async function startSentry(options: SentryOptions): Promise<Sentry> {
  const credentials = join(options.dir, 'credentials');
  mkdirSync(credentials, { recursive: true });
  const configPath = join(options.dir, 'daprsystem.yaml');
  writeFileSync(configPath, SYSTEM_CONFIG);
  const caPath = join(credentials, 'ca.crt');

  const launch = async (port: number) => {
    const healthzPort = await freePort();
    const metricsPort = await freePort();
    // The trust domain stays Sentry's default, "localhost": daprd checks Sentry's certificate
    // against its --control-plane-trust-domain, which defaults to the same.
    const proc = startProcess(
      `sentry:${port}`,
      daprBinary('sentry'),
      [
        '--config', configPath,
        '--issuer-credentials', credentials,
        '--port', String(port),
        '--listen-address', '127.0.0.1',
        '--healthz-port', String(healthzPort),
        '--healthz-listen-address', '127.0.0.1',
        '--metrics-port', String(metricsPort),
        '--log-as-json',
      ],
      { echo: options.echo },
    );
    await awaitReady(proc, 'sentry healthz', () => answers(`http://127.0.0.1:${healthzPort}/healthz`));
    return proc;
  };

  const port = options.port ?? (await freePort());
  if (caNeedsRenewal(credentials)) {
    for (const file of CA_FILES) rmSync(join(credentials, file), { force: true });
    const first = await launch(port);
    await awaitReady(first, 'sentry to write its CA', () => CA_FILES.every((file) => existsSync(join(credentials, file))), 15_000);
    await first.stop(5_000);
  }
  const proc = await launch(port);
  return {
    address: `127.0.0.1:${port}`,
    trustAnchors: readFileSync(caPath, 'utf8'),
    proc,
    stop: async () => {
      await proc.stop(5_000);
    },
  };
}
