/**
 * The values this stack gives the official `dapr` Helm chart: the one definition that the CDK
 * construct (dapr-control-plane.ts) installs with and that the control-plane tests render with
 * `helm template`, so that what the tests run is what EKS gets. Plain data, no aws-cdk-lib, so the
 * tests can load it without synthesizing a stack.
 *
 * Every key is checked against the pinned chart's values.yaml (infra/cdk/test/auto-mode.test.ts):
 * Helm ignores a key the chart does not read, so a misspelt one would change nothing, silently.
 * The chart's keys: https://github.com/dapr/dapr/blob/master/charts/dapr/README.md
 */
export interface DaprHelmValuesOptions {
  /** Three replicas of each control-plane service, spread over zones. */
  readonly highAvailability: boolean;
}

export type HelmValues = { [key: string]: HelmValue };
export type HelmValue = string | number | boolean | HelmValues;

export function daprHelmValues(options: DaprHelmValuesOptions): HelmValues {
  return {
    global: {
      ha: { enabled: options.highAvailability },
      // mTLS between sidecars is cluster-wide on Kubernetes; the chart's default, pinned here
      // because access control by app id relies on it.
      mtls: { enabled: true },
      logAsJson: true,
    },
    dapr_sidecar_injector: {
      // `capabilities.drop: [ALL]` on every injected daprd: without it the `restricted` Pod
      // Security Standard, which deploy/namespace.yaml enforces, refuses the apps' pods (seen on a
      // real API server, test/kubernetes). The chart's default is false.
      sidecarDropALLCapabilities: true,
    },
    dapr_scheduler: {
      // The scheduler keeps jobs and reminders in etcd on a persistent volume by default. The
      // orders apps schedule nothing, and a volume would outlive `cdk destroy` (an EBS volume
      // that deleting the cluster does not delete) and need a StorageClass Auto Mode lacks.
      cluster: { inMemoryStorage: true },
    },
  };
}
