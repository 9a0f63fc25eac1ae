import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DEPLOY_DIR, type ManifestFile } from '../../../infra/cdk/lib/manifests';

/** deploy/'s kustomization in a directory of its own, over the substituted files, for `kubectl apply -k`. */
export function writeKustomization(target: string, files: ManifestFile[]): void {
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  writeFileSync(join(target, 'kustomization.yaml'), readFileSync(join(DEPLOY_DIR, 'kustomization.yaml'), 'utf8'));
  for (const file of files) writeFileSync(join(target, file.file), file.objects.map((o) => stringify(o)).join('---\n'));
}
