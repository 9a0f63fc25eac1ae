import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runningProcesses } from '../../../dev/src/processes';
import { caNeedsRenewal, caRenewalMarginMs, startSentry } from '../../../dev/src/sentry';

// `npm start` keeps its CA in .run/sentry across runs; Sentry never renews a CA it finds. These
// show the one npm start keeps being replaced once it comes within caRenewalMarginMs of its end.

const DAY_MS = 24 * 60 * 60 * 1000;

/** A root and an issuer it signed, both valid for `days`, as Sentry's issuer credentials. */
function writeCa(credentials: string, days: number): void {
  mkdirSync(credentials, { recursive: true });
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: credentials, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  writeFileSync(join(credentials, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', String(days), '-subj', '/O=short-lived root']);
  openssl(['req', ...key, '-keyout', 'issuer.key', '-out', 'issuer.csr', '-subj', '/O=short-lived issuer']);
  openssl(['x509', '-req', '-in', 'issuer.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'issuer.crt', '-days', String(days), '-extfile', 'ca.ext']);
  for (const file of ['ca.key', 'issuer.csr', 'ca.srl', 'ca.ext']) rmSync(join(credentials, file), { force: true });
}

const validTo = (path: string) => new X509Certificate(readFileSync(path)).validToDate.getTime();

describe("npm start's local CA", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'orders-sentry-ca-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    expect(runningProcesses()).toEqual([]);
  });

  test('is due for renewal within the margin of its end, and not before', () => {
    const credentials = join(dir, 'credentials');
    writeCa(credentials, 1);
    expect(caNeedsRenewal(credentials)).toBe(true);
    writeCa(credentials, 90);
    expect(caNeedsRenewal(credentials)).toBe(false);
    const end = validTo(join(credentials, 'ca.crt'));
    expect(caNeedsRenewal(credentials, new Date(end - caRenewalMarginMs - DAY_MS))).toBe(false);
    expect(caNeedsRenewal(credentials, new Date(end - caRenewalMarginMs + DAY_MS))).toBe(true);
    rmSync(join(credentials, 'issuer.key'));
    expect(caNeedsRenewal(credentials)).toBe(true);
  });

  test('a CA valid for one more day is replaced by a new one when Sentry starts', async () => {
    const credentials = join(dir, 'credentials');
    writeCa(credentials, 1);
    const shortLived = readFileSync(join(credentials, 'ca.crt'), 'utf8');
    const sentry = await startSentry({ dir });
    try {
      const root = readFileSync(join(credentials, 'ca.crt'), 'utf8');
      expect(root).not.toBe(shortLived);
      expect(sentry.trustAnchors).toBe(root);
      for (const file of ['ca.crt', 'issuer.crt']) expect(validTo(join(credentials, file))).toBeGreaterThan(Date.now() + caRenewalMarginMs);
    } finally {
      await sentry.stop();
    }
  });

  test('a CA far from its end is kept from one start to the next', async () => {
    const first = await startSentry({ dir });
    await first.stop();
    const issuer = readFileSync(join(dir, 'credentials', 'issuer.crt'), 'utf8');
    const second = await startSentry({ dir });
    try {
      expect(second.trustAnchors).toBe(first.trustAnchors);
      expect(readFileSync(join(dir, 'credentials', 'issuer.crt'), 'utf8')).toBe(issuer);
    } finally {
      await second.stop();
    }
  });
});
