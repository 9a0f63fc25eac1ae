import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const README = resolve(__dirname, '../../../infra/cdk/README.md');
const SECTION = '## Renewing the mTLS certificates';

/**
 * The kubectl script infra/cdk/README.md's "Renewing the mTLS certificates" gives a user: its `sh`
 * blocks that run kubectl, in order, as one script (the Dapr CLI's block is the other way, and
 * left out), to be run with bash where the user would, in the directory holding `ca.pem`,
 * `issuer.pem` and `issuer.key`.
 */
export function renewalScript(readme = readFileSync(README, 'utf8')): string {
  const start = readme.indexOf(SECTION);
  if (start < 0) throw new Error(`infra/cdk/README.md has no section "${SECTION}"`);
  const end = readme.indexOf('\n## ', start + SECTION.length);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string).filter((block) => /^\s*kubectl /m.test(block) && !/^\s*dapr /m.test(block));
  if (blocks.length === 0) throw new Error(`infra/cdk/README.md's "${SECTION}" has no kubectl block`);
  return blocks.join('\n');
}

export interface RootAndIssuer {
  dir: string;
  /** ca.pem, issuer.pem, issuer.key: the names the README's commands use. */
  rootPem: string;
  issuerPem: string;
}

/**
 * A new root and issuer made with openssl as a user would: ECDSA P-256 keys (what Dapr's mTLS
 * docs make with step; Sentry's own self-signed pair is Ed25519), a self-signed root CA and an
 * issuer CA it signs. Sentry checks (pkg/sentry/server/ca/validate.go, v1.18.2) that the root is
 * self-signed, that the issuer may sign (CA, keyCertSign), that the key matches the issuer and that
 * the issuer chains to the root; it asks for no name. The subjects are those Sentry gives its own
 * pair (pkg/sentry/server/ca/bundle/cert.go): O=<trust domain> and O=<Sentry's SPIFFE id>.
 */
export async function newRootAndIssuer(dir: string, trustDomain: string, daprNamespace: string): Promise<RootAndIssuer> {
  mkdirSync(dir, { recursive: true });
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  const config = join(dir, 'openssl.cnf');
  writeFileSync(config, [
    '[req]', 'distinguished_name = dn', 'prompt = no',
    '[dn]', `O = ${trustDomain}`,
    '[root]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash',
    '[issuer]', 'basicConstraints = critical,CA:TRUE,pathlen:0', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always',
    '',
  ].join('\n'));
  for (const key of ['ca.key', 'issuer.key']) await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '365', '-config', config, '-extensions', 'root', '-out', 'ca.pem']);
  await openssl(['req', '-new', '-key', 'issuer.key', '-config', config, '-subj', `/O=${`spiffe://${trustDomain}/ns/${daprNamespace}/dapr-sentry`.replaceAll('/', '\\/')}`, '-out', 'issuer.csr']);
  await openssl([
    'x509', '-req', '-in', 'issuer.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(16).toString('hex')}`,
    '-days', '365', '-sha256', '-extfile', config, '-extensions', 'issuer', '-out', 'issuer.pem',
  ]);
  return { dir, rootPem: readFileSync(join(dir, 'ca.pem'), 'utf8'), issuerPem: readFileSync(join(dir, 'issuer.pem'), 'utf8') };
}

/** The PEM certificates in a text (openssl s_client -showcerts prints the peer's chain so), in order. */
export function pemCertificates(text: string): X509Certificate[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

/**
 * Whether a presented chain (leaf first, then the certificates that sign it) leads to `rootPem`:
 * each certificate issued and signed by the next, the last by the root, all valid now.
 */
export function chainsTo(chain: X509Certificate[], rootPem: string): boolean {
  const root = new X509Certificate(rootPem);
  const now = Date.now();
  const path = [...chain, root];
  for (let i = 0; i < chain.length; i += 1) {
    const cert = path[i] as X509Certificate;
    const signer = path[i + 1] as X509Certificate;
    if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) return false;
    if (!cert.checkIssued(signer) || !cert.verify(signer.publicKey)) return false;
  }
  return chain.length > 0;
}
