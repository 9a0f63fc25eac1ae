import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Document, isMap, isSeq, parseAllDocuments, parseDocument, stringify } from 'yaml';
import { DEPLOY_DIR, type ManifestFile } from '../../../infra/cdk/lib/manifests';

/** deploy/'s kustomization in a directory of its own, over the substituted files, for `kubectl apply -k`. */
export function writeKustomization(target: string, files: ManifestFile[]): void {
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  writeFileSync(join(target, 'kustomization.yaml'), readFileSync(join(DEPLOY_DIR, 'kustomization.yaml'), 'utf8'));
  for (const file of files) writeFileSync(join(target, file.file), file.objects.map((o) => stringify(o)).join('---\n'));
}

/**
 * deploy/ copied to `target` and made ready as its kustomization's header tells a user: the
 * `images` entries pointed at `images` (name to reference) and statestore.yaml's redisHost at
 * `redisHost`. Nothing else changes, comments included, but for `shortenShutdownBySec`.
 */
export function userCopyOfDeploy(target: string, images: Record<string, string>, redisHost: string, shortenShutdownBySec = 0): void {
  rmSync(target, { recursive: true, force: true });
  cpSync(DEPLOY_DIR, target, { recursive: true });
  const kustomizationFile = join(target, 'kustomization.yaml');
  const kustomization = parseDocument(readFileSync(kustomizationFile, 'utf8'));
  const entries = kustomization.get('images');
  if (!isSeq(entries)) throw new Error(`${kustomizationFile} has no images list`);
  const unused = new Set(Object.keys(images));
  for (const entry of entries.items) {
    if (!isMap(entry)) continue;
    const name = String(entry.get('name'));
    const reference = images[name];
    if (reference === undefined) continue;
    const tagAt = reference.lastIndexOf(':');
    if (tagAt <= reference.lastIndexOf('/')) throw new Error(`image reference ${reference} has no tag`);
    entry.set('newName', reference.slice(0, tagAt));
    entry.set('newTag', reference.slice(tagAt + 1));
    unused.delete(name);
  }
  if (unused.size > 0) throw new Error(`${kustomizationFile} has no image entry for ${[...unused].join(', ')}`);
  writeFileSync(kustomizationFile, kustomization.toString());

  const storeFile = join(target, 'statestore.yaml');
  const docs = readDocuments(storeFile);
  const host = docs.flatMap((doc) => {
    const metadata = doc.getIn(['spec', 'metadata']);
    return isSeq(metadata) ? metadata.items.filter((item) => isMap(item) && item.get('name') === 'redisHost') : [];
  });
  if (host.length !== 1 || !isMap(host[0])) throw new Error(`${storeFile} has no single redisHost`);
  host[0].set('value', redisHost);
  writeDocuments(storeFile, docs);
  if (shortenShutdownBySec > 0) shortenStoreShutdown(join(target, 'order-store.yaml'), shortenShutdownBySec);
}

/**
 * What nothing on a test node needs: the part of order-store's preStop sleep that waits for the
 * NLB to deregister the Pod (a NodePort is dropped by kube-proxy within a second). Its preStop
 * sleep, the sidecar's block-shutdown-duration and the grace period all shrink by the same
 * seconds, so the shutdown keeps its order and every margin; the sleep must still outlast Dapr's
 * name-resolution cache (20 s) and the DNS TTL of the sidecars' headless Service (5 s).
 */
function shortenStoreShutdown(file: string, seconds: number): void {
  const docs = readDocuments(file);
  const deployment = docs.find((doc) => doc.get('kind') === 'Deployment');
  const container = deployment?.getIn(['spec', 'template', 'spec', 'containers', 0]);
  const sleep = isMap(container) ? container.getIn(['lifecycle', 'preStop', 'exec', 'command']) : undefined;
  const annotations = deployment?.getIn(['spec', 'template', 'metadata', 'annotations']);
  const grace = Number(deployment?.getIn(['spec', 'template', 'spec', 'terminationGracePeriodSeconds']));
  if (!deployment || !isSeq(sleep) || sleep.items.length !== 2 || !isMap(annotations) || !Number.isInteger(grace)) {
    throw new Error(`${file}: no Deployment with a preStop sleep, annotations and a grace period`);
  }
  const sleepSec = Number(String(sleep.get(1)));
  const block = /^(\d+)s$/.exec(String(annotations.get('dapr.io/block-shutdown-duration')));
  if (!block) throw new Error(`${file}: dapr.io/block-shutdown-duration is not in whole seconds`);
  if (sleepSec - seconds < 25) throw new Error(`${file}: a preStop sleep of ${sleepSec - seconds}s would end inside Dapr's name-resolution cache`);
  sleep.set(1, String(sleepSec - seconds));
  annotations.set('dapr.io/block-shutdown-duration', `${Number(block[1]) - seconds}s`);
  deployment.setIn(['spec', 'template', 'spec', 'terminationGracePeriodSeconds'], grace - seconds);
  writeDocuments(file, docs);
}

/**
 * The commands deploy/kustomization.yaml's header gives a user, as kubectl arguments: `deploy/`
 * becomes `deployDir`, and each `"$(openssl rand -hex 32)"` a fresh random token.
 */
export function headerCommands(deployDir: string, values: Record<string, string> = {}): string[][] {
  return readFileSync(join(DEPLOY_DIR, 'kustomization.yaml'), 'utf8')
    .split('\n')
    .filter((line) => /^#\s+kubectl\s/.test(line))
    .map((line) =>
      line
        .replace(/^#\s+kubectl\s+/, '')
        .replace(/"\$\(openssl rand -hex 32\)"/g, () => randomBytes(32).toString('hex'))
        // "$NAME": a value the user supplies, e.g. their Redis user's password.
        .replace(/"\$([A-Z_]+)"/g, (_, name: string) => {
          const value = values[name];
          if (value === undefined) throw new Error(`deploy/kustomization.yaml's header needs $${name}`);
          return value;
        })
        .split(/\s+/)
        .filter(Boolean)
        .map((arg) => (arg === 'deploy/' ? deployDir : arg)),
    );
}

/** A YAML file's documents, editable in place: comments and layout are kept when written back. */
function readDocuments(file: string): Document[] {
  return parseAllDocuments(readFileSync(file, 'utf8'));
}

function writeDocuments(file: string, docs: Document[]): void {
  writeFileSync(file, docs.map((doc) => doc.toString()).join('---\n'));
}
