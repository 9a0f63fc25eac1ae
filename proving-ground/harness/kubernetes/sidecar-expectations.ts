import { unknownDaprAnnotations } from '../../harness/dapr-module';

/** The parts of a stored Pod the checks read. */
export interface StoredPod {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { containers: StoredContainer[] };
}

export interface StoredContainer {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}

/** `--name value` or `--name=value` in daprd's arguments; undefined when absent, '' for a bare flag. */
export function flagValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    if (arg === name) {
      const next = args[i + 1];
      return next === undefined || next.startsWith('--') ? '' : next;
    }
  }
  return undefined;
}

type Check = (daprd: StoredContainer, value: string) => string | undefined;

const flag =
  (name: string): Check =>
    (daprd, value) => {
      const actual = flagValue(daprd.args ?? [], name);
      return actual === value ? undefined : `daprd ${name} is ${JSON.stringify(actual)}, not ${JSON.stringify(value)}`;
    };
const switchedOn =
  (name: string): Check =>
    (daprd, value) => {
      const on = flagValue(daprd.args ?? [], name) !== undefined;
      return on === (value === 'true') ? undefined : `daprd ${name} is ${on ? 'set' : 'missing'} for ${value}`;
    };
const resource =
  (kind: 'requests' | 'limits', name: string): Check =>
    (daprd, value) => {
      const actual = daprd.resources?.[kind]?.[name];
      return actual === value ? undefined : `daprd ${kind}.${name} is ${JSON.stringify(actual)}, not ${JSON.stringify(value)}`;
    };

/**
 * How each Dapr annotation deploy/ uses shows in the daprd container the injector adds, as its
 * patcher writes it (pkg/injector/patcher/sidecar_container.go of dapr/dapr). An annotation deploy/
 * uses that has no entry here is reported, so that a new one cannot go unchecked.
 */
const EXPECTATIONS: Record<string, Check> = {
  'dapr.io/enabled': () => undefined, // the daprd container itself
  'dapr.io/app-id': flag('--app-id'),
  'dapr.io/app-port': flag('--app-port'),
  'dapr.io/config': flag('--config'),
  'dapr.io/log-as-json': switchedOn('--log-as-json'),
  'dapr.io/sidecar-listen-addresses': flag('--dapr-listen-addresses'),
  'dapr.io/enable-app-health-check': switchedOn('--enable-app-health-check'),
  'dapr.io/app-health-check-path': flag('--app-health-check-path'),
  'dapr.io/app-health-probe-interval': flag('--app-health-probe-interval'),
  'dapr.io/app-health-threshold': flag('--app-health-threshold'),
  'dapr.io/block-shutdown-duration': flag('--dapr-block-shutdown-duration'),
  'dapr.io/graceful-shutdown-seconds': flag('--dapr-graceful-shutdown-seconds'),
  'dapr.io/sidecar-cpu-request': resource('requests', 'cpu'),
  'dapr.io/sidecar-cpu-limit': resource('limits', 'cpu'),
  'dapr.io/sidecar-memory-request': resource('requests', 'memory'),
  'dapr.io/sidecar-memory-limit': resource('limits', 'memory'),
  // The sidecar reads Dapr's app API token from this Secret and sends it with every call to the app.
  'dapr.io/app-token-secret': (daprd, value) => {
    const ref = daprd.env?.find((e) => e.name === 'APP_API_TOKEN')?.valueFrom?.secretKeyRef;
    return ref?.name === value && ref.key === 'token' ? undefined : `daprd APP_API_TOKEN comes from ${JSON.stringify(ref)}, not Secret ${value}`;
  },
};

/**
 * What is wrong with a stored Pod's sidecar, measured against the Pod's own annotations: no daprd,
 * an annotation the injector does not know (a typo it ignores without a word), one this check has
 * no expectation for, or one whose effect is missing from daprd. Empty when all is as asked.
 */
export function sidecarMismatches(pod: StoredPod): string[] {
  const annotations = pod.metadata.annotations ?? {};
  const daprd = pod.spec.containers.find((container) => container.name === 'daprd');
  if (!daprd) return [`${pod.metadata.name}: no daprd container`];
  const problems = unknownDaprAnnotations(annotations).map((key) => `annotation ${key} is not one the injector reads`);
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith('dapr.io/') || problems.some((p) => p.includes(key))) continue;
    const check = EXPECTATIONS[key];
    const problem = check ? check(daprd, value) : `annotation ${key} has no expectation in this check`;
    if (problem) problems.push(problem);
  }
  return problems.map((problem) => `${pod.metadata.name}: ${problem}`);
}
