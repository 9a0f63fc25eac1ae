import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { Construct } from 'constructs';
import { daprHelmValues, SCHEDULER_STORAGE_CLASS } from './dapr-helm-values';
import { type K8sObject, parseManifest } from './manifests';
import { topology } from './topology';

/** Where the official chart is published. */
export const DAPR_HELM_REPOSITORY = 'https://dapr.github.io/helm-charts/';

/**
 * How long `helm upgrade --wait` may wait for the chart's Pods. The kubectl handler that runs helm
 * is a Lambda function with a 15-minute timeout (aws-eks-v2 kubectl-provider.js, aws-cdk-lib
 * 2.276.0): a wait as long as that kills the handler before it answers, and CloudFormation then
 * waits up to an hour for an answer that never comes (aws/aws-cdk#22257). Twelve minutes leave
 * the handler three to fetch the chart, fail, and answer; the release is then `failed`, not
 * `pending-*` (infra/cdk/README.md says how to recover from either).
 */
export const HELM_WAIT_TIMEOUT = Duration.minutes(12);

/**
 * The `crds/` folder of each Dapr chart version this app can install, copied verbatim as
 * `<version>/*.yaml`, so that a synth needs no network and no Helm. A proving-ground test checks
 * the pinned version's copy against the chart's sources.
 */
export const DAPR_CRDS_DIR = resolve(__dirname, '../dapr-crds');

/**
 * The CustomResourceDefinitions of a Dapr version, from its copy of the chart's `crds/`. A version
 * without a copy fails the synth: Helm never updates `crds/` on `helm upgrade`, so the chart alone
 * would leave the old CRDs behind.
 */
export function daprCrds(version: string, dir: string = DAPR_CRDS_DIR): K8sObject[] {
  const versionDir = join(dir, version);
  if (!existsSync(versionDir)) {
    throw new Error(
      `daprVersion ${version}: ${dir} has no copy of that chart's CRDs; add it with ` +
        `\`helm pull dapr --repo ${DAPR_HELM_REPOSITORY} --version ${version} --untar && cp dapr/crds/*.yaml ${versionDir}/\``,
    );
  }
  const crds = readdirSync(versionDir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .flatMap((file) => parseManifest(join(versionDir, file)));
  const other = crds.find((object) => object.kind !== 'CustomResourceDefinition');
  if (crds.length === 0 || other) throw new Error(`${versionDir}: expected only CustomResourceDefinitions, found ${other ? `${other.kind} ${other.metadata.name}` : 'none'}`);
  return crds;
}

export interface DaprControlPlaneProps {
  /** The cluster to install into. */
  readonly cluster: eks.ICluster;
  /**
   * Dapr version: the chart version, which pins every control-plane image to the same version.
   * @default topology.daprVersion, the version local runs use
   */
  readonly version?: string;
  /**
   * Three replicas of each control-plane service, one per zone, instead of one (the scheduler is
   * three members either way). The cluster's VPC needs three zones.
   * @default true
   */
  readonly highAvailability?: boolean;
  /**
   * Namespace of the control plane.
   * @default 'dapr-system'
   */
  readonly namespace?: string;
}

/**
 * The Dapr control plane (operator, sentry, sidecar injector, placement, scheduler) from the
 * official `dapr` Helm chart.
 */
export class DaprControlPlane extends Construct {
  readonly chart: eks.HelmChart;
  /**
   * What the chart needs before it installs and what must go only after it is uninstalled: the
   * namespace and the scheduler's StorageClass.
   */
  readonly prerequisites: eks.KubernetesManifest;
  /** The version's CustomResourceDefinitions, applied before the chart on every install and upgrade. */
  readonly crds: eks.KubernetesManifest;
  readonly version: string;
  readonly namespace: string;

  constructor(scope: Construct, id: string, props: DaprControlPlaneProps) {
    super(scope, id);
    this.version = props.version ?? topology.daprVersion;
    this.namespace = props.namespace ?? 'dapr-system';
    const highAvailability = props.highAvailability ?? true;

    // The namespace is the stack's, not Helm's: `helm uninstall` leaves the PersistentVolumeClaims
    // a StatefulSet made from its volumeClaimTemplates (they are not in the release, and the
    // StatefulSet's persistentVolumeClaimRetentionPolicy, which the chart does not set, defaults
    // to Retain: https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#persistentvolumeclaim-retention),
    // and their EBS volumes would outlive the cluster. Deleting the namespace
    // deletes them, and `kubectl delete` waits for it to be gone (--wait, the default); the
    // volumes go with them (reclaimPolicy Delete). The teardown check confirms it.
    const objects: Record<string, unknown>[] = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.namespace } },
      // EKS Auto Mode creates no StorageClass; one for its EBS driver names the provisioner
      // ebs.csi.eks.amazonaws.com, and this is the page's own example, less the default-class
      // annotation (https://docs.aws.amazon.com/eks/latest/userguide/create-storage-class.html):
      // gp3, encrypted with the account's aws/ebs key, bound where the Pod is scheduled, on
      // Auto Mode nodes only. The scheduler's members keep their etcd on it (dapr-helm-values.ts).
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: SCHEDULER_STORAGE_CLASS },
        provisioner: 'ebs.csi.eks.amazonaws.com',
        volumeBindingMode: 'WaitForFirstConsumer',
        reclaimPolicy: 'Delete',
        allowedTopologies: [{ matchLabelExpressions: [{ key: 'eks.amazonaws.com/compute-type', values: ['auto'] }] }],
        parameters: { type: 'gp3', encrypted: 'true' },
      },
    ];
    this.prerequisites = new eks.KubernetesManifest(this, 'Prerequisites', { cluster: props.cluster, manifest: objects, overwrite: true });

    // Helm installs a chart's crds/ only when they are absent and never upgrades them, so Dapr's
    // upgrade guide applies the new version's CRDs first
    // (https://docs.dapr.io/operations/hosting/kubernetes/kubernetes-upgrade/). The stack owns
    // them instead of the chart (skipCrds below). The kubectl handler has no server-side apply:
    // with overwrite it runs `kubectl apply -f` (client-side) on create and update, and
    // `kubectl delete` on delete (aws-cdk-lib 2.276.0,
    // custom-resource-handlers/dist/aws-eks-v2/kubectl-handler/apply/__init__.py). Client-side
    // apply is enough here: the largest CRD (about 30 KB) fits the 256 KB that the
    // last-applied-configuration annotation may take, and it adopts CRDs an earlier install's
    // chart created, replacing each spec.versions list whole. A throwaway chart of the CRDs as
    // templates would get Helm 4's server-side apply, but Helm refuses to adopt CRDs without its
    // release annotations, which is every CRD of a cluster installed before, and the handler
    // passes no --take-ownership (kubectl-handler/helm/__init__.py).
    this.crds = new eks.KubernetesManifest(this, 'Crds', { cluster: props.cluster, manifest: daprCrds(this.version), overwrite: true });

    this.chart = new eks.HelmChart(this, 'Chart', {
      cluster: props.cluster,
      repository: DAPR_HELM_REPOSITORY,
      chart: 'dapr',
      release: 'dapr',
      version: this.version,
      namespace: this.namespace,
      createNamespace: false,
      skipCrds: true,
      // The apps' Deployments must not be applied before the injector's webhook answers: the
      // chart registers it with failurePolicy Ignore (webhookFailurePolicy in
      // charts/dapr/charts/dapr_sidecar_injector/values.yaml), so until then their pods are
      // admitted without a sidecar, as proving-ground/test/kubernetes shows on a real API server. `--wait`
      // holds the release until the injector's Pod is ready, and the injector reports ready only
      // once it has its certificate from Sentry, listens, and has patched the webhook's caBundle
      // (https://github.com/dapr/dapr/blob/v1.18.2/cmd/injector/app/app.go). The Workloads
      // manifest depends on this chart (orders-stack.ts), so it is applied after that.
      wait: true,
      timeout: HELM_WAIT_TIMEOUT,
      values: daprHelmValues({ highAvailability }),
    });
    this.chart.node.addDependency(this.prerequisites, this.crds);
  }
}
