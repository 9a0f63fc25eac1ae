import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of the PEM files a test control plane runs on, all made fresh by openssl. */
export interface ClusterCertificates {
  caCert: string;
  caKey: string;
  /** kube-apiserver's serving certificate, for 127.0.0.1 and the in-cluster names of the API. */
  serverCert: string;
  serverKey: string;
  /** A client in system:masters, for kubectl, the controller-manager and Dapr's control plane. */
  adminCert: string;
  adminKey: string;
  /** The key pair service-account tokens are signed and checked with. */
  serviceAccountKey: string;
  serviceAccountPublicKey: string;
}

const openssl = (args: string[], cwd: string) => run('openssl', args, { cwd });

/**
 * A throwaway CA and what the API server and its clients need from it, valid for two days.
 * `serverAddresses`: more IP addresses the API server is reached at (a node's, the `kubernetes`
 * Service's ClusterIP).
 */
export async function makeClusterCertificates(dir: string, serverAddresses: string[] = []): Promise<ClusterCertificates> {
  const path = (name: string) => join(dir, name);
  await openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=orders-test-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  await issueCertificate(
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${['127.0.0.1', ...serverAddresses].map((ip) => `IP:${ip}`).join(',')},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
      '',
    ].join('\n'),
  );
  await issueClientCertificate(dir, 'admin', '/O=system:masters/CN=orders-test-admin');
  await openssl(['genrsa', '-out', 'service-account.key', '2048'], dir);
  await openssl(['rsa', '-in', 'service-account.key', '-pubout', '-out', 'service-account.pub'], dir);
  return {
    caCert: path('ca.crt'),
    caKey: path('ca.key'),
    serverCert: path('apiserver.crt'),
    serverKey: path('apiserver.key'),
    adminCert: path('admin.crt'),
    adminKey: path('admin.key'),
    serviceAccountKey: path('service-account.key'),
    serviceAccountPublicKey: path('service-account.pub'),
  };
}

/** A certificate from the CA in `dir` (ca.crt, ca.key): `<name>.crt` and `<name>.key` there. */
async function issueCertificate(dir: string, name: string, subject: string, extensions: string): Promise<void> {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`],
    dir,
  );
}

/**
 * A client certificate from the CA in `dir` for the API server's x509 authentication: the
 * subject's CN is the user, its O the group (`/O=system:nodes/CN=system:node:<node>` for a kubelet).
 */
export async function issueClientCertificate(dir: string, name: string, subject: string): Promise<{ cert: string; key: string }> {
  await issueCertificate(dir, name, subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}
