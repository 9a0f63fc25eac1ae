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
 * The StorageClass the stack creates, in HA mode, for the Dapr scheduler's etcd volumes
 * (dapr-control-plane.ts): EKS Auto Mode creates none
 * (https://docs.aws.amazon.com/eks/latest/userguide/create-storage-class.html).
 */
export const SCHEDULER_STORAGE_CLASS = 'dapr-scheduler-ebs-gp3';

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
      // real API server, proving-ground/test/kubernetes). The chart's default is false.
      sidecarDropALLCapabilities: true,
    },
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
    },
    dapr_scheduler: options.highAvailability
      ? {
          // Three schedulers form one embedded etcd cluster, and an etcd member must keep its
          // data: one that restarts empty into the running cluster (a Pod moved to another node,
          // as Auto Mode does when it consolidates or replaces nodes) is sent the leader's commit index and
          // panics ("tocommit(N) is out of range [lastIndex(0)]", raft/log.go commitTo, etcd
          // v3.5.21 as dapr 1.18.2 pins it), and Dapr's scheduler neither removes nor re-adds
          // members (pkg/scheduler/server/internal/etcd). Jobs, actor reminders and workflows
          // live in that etcd too. So in HA each replica gets a volume, of the class the stack
          // creates, with the chart's default size (16Gi).
          cluster: { inMemoryStorage: false, storageClassName: SCHEDULER_STORAGE_CLASS },
        }
      : {
          // One scheduler is a one-member etcd cluster: restarted empty it starts a new one. The
          // orders apps schedule no jobs, reminders or workflows, so nothing is lost, and no
          // volume is made, paid for, or left to clean up.
          cluster: { inMemoryStorage: true },
        },
  };
}
