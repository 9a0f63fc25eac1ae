import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { topology } from '@orders/common';
import { daprBinary } from '../../../dev/src/dapr-binaries';
import upgrade from './dapr-upgrade.json';

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

export type DaprProgram = 'daprd' | 'sentry' | 'injector' | 'operator' | 'placement' | 'scheduler';

/**
 * A Dapr program of a release: of the pinned one (daprd and sentry as npm start has them, the rest
 * as bootstrap-kube.sh built them), or of the release the day 2 suite upgrades from
 * (dapr-upgrade.json, built by bootstrap-kube.sh into a directory of its own). No other is built.
 */
export function daprProgramBinary(program: DaprProgram, version: string): string {
  if (version === topology.daprVersion) return program === 'daprd' || program === 'sentry' ? daprBinary(program) : kubeBinary(program);
  if (version !== upgrade.from) throw new Error(`Dapr ${version} is not built here: only ${topology.daprVersion} and ${upgrade.from} (dapr-upgrade.json) are`);
  const path = join(kubeBin, `dapr-${version}`, program);
  if (!existsSync(path)) throw new Error(`${path} is missing: run proving-ground/bootstrap-kube.sh (npm test runs it for you)`);
  return path;
}
