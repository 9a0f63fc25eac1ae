import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where proving-ground/bootstrap-kube.sh builds the Kubernetes and Dapr control-plane binaries. */
export const kubeBin = join(process.env.ORDERS_KUBE_HOME ?? join(homedir(), '.cache', 'orders-kube'), 'bin');

export type KubeBinary =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'kube-proxy'
  | 'kube-router'
  | 'kubectl'
  | 'helm'
  | 'coredns'
  | 'pause'
  | 'injector'
  | 'operator'
  | 'placement'
  | 'scheduler';

/**
 * The path of a binary proving-ground/bootstrap-kube.sh built. A missing one throws, so a suite that
 * needs it fails: it never passes by skipping what it could not start.
 */
export function kubeBinary(name: KubeBinary): string {
  const path = join(kubeBin, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run proving-ground/bootstrap-kube.sh (npm test runs it for you)`);
  }
  return path;
}

/** The version stamp the bootstrap wrote beside a binary. */
export function builtVersion(name: KubeBinary): string {
  return readFileSync(join(kubeBin, `.${name}.version`), 'utf8').trim();
}
