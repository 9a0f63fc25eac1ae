import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daprBinary } from './dapr-binaries';
import { type Proc, answers, freePort, startProcess, awaitReady } from './processes';

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
 * Starts Dapr's certificate authority. On a first start Sentry writes a new root and issuer into
 * the directory it also watches, and then keeps reloading them; so a new CA is made by a first
 * run that is stopped once the files exist, and the real run starts on finished files.
 */
export async function startSentry(options: SentryOptions): Promise<Sentry> {
  const credentials = join(options.dir, 'credentials');
  mkdirSync(credentials, { recursive: true });
  const configPath = join(options.dir, 'daprsystem.yaml');
  writeFileSync(configPath, SYSTEM_CONFIG);
  const caPath = join(credentials, 'ca.crt');
  const issuerKey = join(credentials, 'issuer.key');

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
  if (!existsSync(caPath) || !existsSync(issuerKey)) {
    const first = await launch(port);
    await awaitReady(first, 'sentry to write its CA', () => existsSync(caPath) && existsSync(issuerKey), 15_000);
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
