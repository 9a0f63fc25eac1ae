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
/**
 * The StorageClass the stack creates for the Dapr scheduler's etcd volumes
 * (dapr-control-plane.ts): EKS Auto Mode creates none
 * (https://docs.aws.amazon.com/eks/latest/userguide/create-storage-class.html).
 */
export const SCHEDULER_STORAGE_CLASS = 'dapr-scheduler-ebs-gp3';

/**
 * How often the operator's injector watchdog looks for Pods annotated `dapr.io/enabled` that run
 * without a sidecar, and deletes them so that they are created again through the injector
 * (https://docs.dapr.io/concepts/dapr-services/operator/#injector-watchdog). The injector's webhook
 * ignores failures (webhookFailurePolicy Ignore in the chart), so a Pod created while the injector
 * is away starts without one (dapr/dapr#4270); the chart's default, "0", never looks.
 */
export const DAPR_WATCHDOG_INTERVAL = '30s';

/**
 * What every control-plane Pod gets: the priority class Kubernetes reserves for what the cluster
 * needs to work, so that a node short of room evicts application Pods first; the chart adds the
 * ResourceQuota that admits that class outside kube-system (charts/dapr_rbac/templates/priorityclassresourcequota.yaml).
 */
export const DAPR_PRIORITY_CLASS = 'system-cluster-critical';

/**
 * Requests for each control-plane service: Dapr's production guide's starting points
 * (https://docs.dapr.io/operations/hosting/kubernetes/kubernetes-production/#cluster-and-capacity-requirements:
 * CPU limit 1, no memory limit "to avoid OOMKilled pod statuses"). The guide has no row for the
 * scheduler; it is given placement's CPU (both are consensus members) and more memory, for the
 * etcd it embeds. Auto Mode sizes nodes by requests, and Pods without any are evicted first.
 */
export const DAPR_CONTROL_PLANE_REQUESTS = {
  dapr_operator: { cpu: '100m', memory: '100Mi' },
  dapr_sidecar_injector: { cpu: '100m', memory: '30Mi' },
  dapr_sentry: { cpu: '100m', memory: '30Mi' },
  dapr_placement: { cpu: '250m', memory: '75Mi' },
  dapr_scheduler: { cpu: '250m', memory: '128Mi' },
} as const;

export interface DaprHelmValuesOptions {
  /**
   * Three replicas of each control-plane service, one per zone. The VPC must then have three
   * zones (settings.ts checks it): three raft members over two zones lose quorum with the zone
   * that holds two of them.
   */
  readonly highAvailability: boolean;
}

export type HelmValues = { [key: string]: HelmValue };
export type HelmValue = string | number | boolean | HelmValues;

const resources = (service: keyof typeof DAPR_CONTROL_PLANE_REQUESTS): HelmValues => ({
  requests: { ...DAPR_CONTROL_PLANE_REQUESTS[service] },
  limits: { cpu: '1' },
});

export function daprHelmValues(options: DaprHelmValuesOptions): HelmValues {
  return {
    global: {
      ha: options.highAvailability
        ? // One replica per zone, required rather than the chart's "preferred": a zone that holds
          // two scheduler or placement members takes the quorum with it.
          { enabled: true, podAntiAffinityPolicy: 'requiredDuringSchedulingIgnoredDuringExecution' }
        : { enabled: false },
      // mTLS between sidecars is cluster-wide on Kubernetes; the chart's default, pinned here
      // because access control by app id relies on it.
      mtls: { enabled: true },
      logAsJson: true,
      priorityClassName: DAPR_PRIORITY_CLASS,
    },
    dapr_operator: { watchInterval: DAPR_WATCHDOG_INTERVAL, resources: resources('dapr_operator') },
    dapr_sidecar_injector: {
      // `capabilities.drop: [ALL]` on every injected daprd: without it the `restricted` Pod
      // Security Standard, which deploy/namespace.yaml enforces, refuses the apps' pods (seen on a
      // real API server, proving-ground/test/kubernetes). The chart's default is false.
      sidecarDropALLCapabilities: true,
      resources: resources('dapr_sidecar_injector'),
    },
    dapr_sentry: { resources: resources('dapr_sentry') },
    dapr_placement: {
      // In HA mode the chart gives each placement replica a `raft-log` PersistentVolumeClaim and
      // passes --raft-logstore-path (charts/dapr/charts/dapr_placement/templates/
      // dapr_placement_statefulset.yaml, v1.18.2) unless forceInMemoryLog is set. Placement
      // 1.18.2 parses that flag and never uses it: its raft, which only elects the leader, runs
      // on raft.NewInmemStore and NewInmemSnapshotStore whatever the flags
      // (pkg/placement/internal/leadership/leadership.go; cmd/placement/app/app.go passes no
      // store path), and the actor table is rebuilt from the sidecars' streams. The claim would
      // be an EBS volume per replica that holds nothing; in-memory, which it is anyway, needs none.
      cluster: { forceInMemoryLog: true },
      resources: resources('dapr_placement'),
    },
    dapr_scheduler: {
      // HA or not, the chart runs three schedulers as one embedded etcd cluster: `replicas: 3`
      // and a three-peer --etcd-initial-cluster are fixed in
      // charts/dapr/charts/dapr_scheduler/templates/dapr_scheduler_statefulset.yaml (v1.18.2);
      // global.ha does not change them, so one member is not a state the chart supports. And an
      // etcd member must keep its data: one that restarts empty into the running cluster (a Pod
      // moved to another node, as Auto Mode does when it consolidates or replaces nodes) is sent
      // the leader's commit index and panics ("tocommit(N) is out of range [lastIndex(0)]",
      // raft/log.go commitTo, etcd v3.5.21 as dapr 1.18.2 pins it), and Dapr's scheduler neither
      // removes nor re-adds members (pkg/scheduler/server/internal/etcd). Jobs, actor reminders
      // and workflows live in that etcd too. So each member gets a volume, of the class the stack
      // creates, with the chart's default size (16Gi).
      cluster: { inMemoryStorage: false, storageClassName: SCHEDULER_STORAGE_CLASS },
      resources: resources('dapr_scheduler'),
    },
  };
}
