import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { K8sObject } from './manifests';

/**
 * A kustomize Component (kind: Component) applied over deploy/'s objects as `kubectl apply -k`
 * of an overlay listing it under `components` would: each patch's operations on every object its
 * target selects. Only what deploy/'s components use is read, JSON 6902 patches (add, replace,
 * remove) with a target of group, version, kind, name, namespace and an equality labelSelector;
 * anything else fails the synth instead of being skipped. The selector's semantics are kustomize's
 * (sigs.k8s.io/kustomize/api/types/selector.go): the name and namespace are anchored regular
 * expressions, and a patch that selects nothing is refused here, where kustomize would ignore it.
 */
export function applyComponent(objects: K8sObject[], componentDir: string): K8sObject[] {
  const file = join(componentDir, 'kustomization.yaml');
  const component = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (component.kind !== 'Component') throw new Error(`${file}: kind is ${String(component.kind)}, not Component`);
  const unread = Object.keys(component).filter((key) => !['apiVersion', 'kind', 'patches'].includes(key));
  if (unread.length > 0) throw new Error(`${file}: ${unread.join(', ')} not supported (only JSON 6902 patches)`);
  const copies = objects.map((object) => structuredClone(object));
  for (const [index, entry] of ((component.patches ?? []) as ComponentPatch[]).entries()) {
    const where = `${file}: patches[${index}]`;
    if (!entry.target) throw new Error(`${where} has no target`);
    const text = entry.patch ?? (entry.path ? readFileSync(join(componentDir, entry.path), 'utf8') : undefined);
    if (text === undefined) throw new Error(`${where} has neither patch nor path`);
    const operations = parse(text) as unknown;
    if (!Array.isArray(operations)) throw new Error(`${where} is not a JSON 6902 patch (a list of operations)`);
    const selected = copies.filter(selector(entry.target, where));
    if (selected.length === 0) throw new Error(`${where} selects no object of deploy/`);
    for (const object of selected) {
      for (const operation of operations as PatchOperation[]) applyOperation(object, operation, `${where} on ${object.kind}/${object.metadata.name}`);
    }
  }
  return copies;
}

interface ComponentPatch {
  target?: Record<string, string>;
  patch?: string;
  path?: string;
}

interface PatchOperation {
  op: string;
  path: string;
  value?: unknown;
}

function selector(target: Record<string, string>, where: string): (object: K8sObject) => boolean {
  const unread = Object.keys(target).filter((key) => !['group', 'version', 'kind', 'name', 'namespace', 'labelSelector'].includes(key));
  if (unread.length > 0) throw new Error(`${where}: target field(s) ${unread.join(', ')} not supported`);
  const anchored = (pattern: string | undefined) => (pattern === undefined ? undefined : new RegExp(`^(?:${pattern})$`));
  const [name, namespace, kind] = [anchored(target.name), anchored(target.namespace), anchored(target.kind)];
  const labels = (target.labelSelector ?? '').split(',').filter(Boolean).map((term) => {
    const match = /^\s*([^=!\s]+)\s*==?\s*([^=\s]*)\s*$/.exec(term);
    if (!match) throw new Error(`${where}: labelSelector term "${term}" is not key=value`);
    return [match[1] as string, match[2] as string] as const;
  });
  return (object) => {
    const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
    return (
      (target.group === undefined || target.group === group) &&
      (target.version === undefined || target.version === version) &&
      (kind === undefined || kind.test(object.kind)) &&
      (name === undefined || name.test(object.metadata.name)) &&
      (namespace === undefined || namespace.test(object.metadata.namespace ?? '')) &&
      labels.every(([key, value]) => object.metadata.labels?.[key] === value)
    );
  };
}

/** One RFC 6902 operation, in place; the parent of the path must exist, as in kustomize's patcher. */
function applyOperation(document: object, operation: PatchOperation, where: string): void {
  if (!['add', 'replace', 'remove'].includes(operation.op)) throw new Error(`${where}: op "${operation.op}" not supported`);
  const tokens = operation.path.split('/').slice(1).map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = tokens.pop();
  if (!operation.path.startsWith('/') || last === undefined) throw new Error(`${where}: path "${operation.path}" is not a JSON pointer below the root`);
  let parent: unknown = document;
  for (const token of tokens) {
    parent = typeof parent === 'object' && parent !== null ? (parent as Record<string, unknown>)[token] : undefined;
    if (parent === undefined) throw new Error(`${where}: ${operation.path}: "${token}" does not exist`);
  }
  if (typeof parent !== 'object' || parent === null) throw new Error(`${where}: ${operation.path}: the parent is not an object or a list`);
  const value = structuredClone(operation.value);
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    const bound = operation.op === 'add' ? parent.length : parent.length - 1;
    if (!Number.isInteger(index) || index < 0 || index > bound) throw new Error(`${where}: ${operation.path}: no index ${last}`);
    if (operation.op === 'add') parent.splice(index, 0, value);
    else if (operation.op === 'replace') parent[index] = value;
    else parent.splice(index, 1);
    return;
  }
  const record = parent as Record<string, unknown>;
  if (operation.op !== 'add' && !(last in record)) throw new Error(`${where}: ${operation.path} does not exist`);
  if (operation.op === 'remove') delete record[last];
  else record[last] = value;
}
