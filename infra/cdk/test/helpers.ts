import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { OrdersStack } from '../lib/orders-stack';
import { readSettings } from '../lib/settings';

/** Who deploys in these tests, as bin/app.ts would find it with credentials (deploying-identity.ts). */
export const DEPLOYER_ARN = 'arn:aws:iam::123456789012:role/Deployer';

/** Synthesizes the stack with the given context, as `cdk synth -c key=value` would. */
export function synth(context: Record<string, unknown> = {}): { stack: OrdersStack; template: Template } {
  const app = new App({ context });
  const stack = new OrdersStack(app, 'OrdersStack', {
    settings: readSettings((key) => app.node.tryGetContext(key), {}),
    deployingPrincipalArn: DEPLOYER_ARN,
  });
  return { stack, template: Template.fromStack(stack) };
}

/** A Kubernetes object as it appears in a synthesized manifest, with tokens spelt out. */
export interface SynthObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  [field: string]: unknown;
}

/**
 * The objects of every KubernetesManifest in the template, keyed by the manifest's logical id.
 * CloudFormation references inside become `<<Ref:Id>>` or `<<GetAtt:Id.Attr>>`.
 */
export function manifestsOf(template: Template): Map<string, SynthObject[]> {
  const result = new Map<string, SynthObject[]>();
  for (const [id, resource] of Object.entries(template.findResources('Custom::AWSCDK-EKS-KubernetesResource'))) {
    const manifest: unknown = (resource as { Properties: { Manifest: unknown } }).Properties.Manifest;
    result.set(id, JSON.parse(flatten(manifest)) as SynthObject[]);
  }
  return result;
}

export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if (Array.isArray(record['Fn::Join'])) {
      const [separator, parts] = record['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(separator);
    }
    if (typeof record.Ref === 'string') return `<<Ref:${record.Ref}>>`;
    if (Array.isArray(record['Fn::GetAtt'])) return `<<GetAtt:${(record['Fn::GetAtt'] as string[]).join('.')}>>`;
    if (typeof record['Fn::Sub'] === 'string') return `<<Sub:${record['Fn::Sub']}>>`;
  }
  return `<<${JSON.stringify(value)}>>`;
}

/** Logical id of the one resource of a type whose id starts with a prefix. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0] as string;
}

export { Stack };

/**
 * Every resource each resource depends on, directly: its DependsOn and every Ref and Fn::GetAtt
 * in its properties. CloudFormation deletes a resource only after everything that depends on it.
 */
export function directDependencies(template: Template): Map<string, Set<string>> {
  const resources = template.toJSON().Resources as Record<string, { DependsOn?: string | string[]; Properties?: unknown }>;
  const result = new Map<string, Set<string>>();
  const refs = (value: unknown, into: Set<string>): void => {
    if (Array.isArray(value)) value.forEach((item) => refs(item, into));
    else if (typeof value === 'object' && value !== null) {
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'Ref' && typeof inner === 'string' && inner in resources) into.add(inner);
        else if (key === 'Fn::GetAtt' && Array.isArray(inner) && typeof inner[0] === 'string') into.add(inner[0]);
        else refs(inner, into);
      }
    }
  };
  for (const [id, resource] of Object.entries(resources)) {
    const deps = new Set<string>([resource.DependsOn ?? []].flat());
    refs(resource.Properties, deps);
    result.set(id, deps);
  }
  return result;
}

/**
 * Whether CloudFormation deletes `first` before `second`: whether `first` depends on `second`,
 * directly or through others.
 */
export function deletedBefore(dependencies: Map<string, Set<string>>, first: string, second: string): boolean {
  const seen = new Set<string>();
  const stack = [first];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    for (const dep of dependencies.get(id) ?? []) {
      if (dep === second) return true;
      if (!seen.has(dep)) {
        seen.add(dep);
        stack.push(dep);
      }
    }
  }
  return false;
}
