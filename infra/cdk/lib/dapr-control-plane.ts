import { Duration } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { Construct } from 'constructs';
import { daprHelmValues } from './dapr-helm-values';
import { topology } from './topology';

/** Where the official chart is published. */
export const DAPR_HELM_REPOSITORY = 'https://dapr.github.io/helm-charts/';

export interface DaprControlPlaneProps {
  /** The cluster to install into. */
  readonly cluster: eks.ICluster;
  /**
   * Dapr version: the chart version, which pins every control-plane image to the same version.
   * @default topology.daprVersion, the version local runs use
   */
  readonly version?: string;
  /**
   * Three replicas of each control-plane service, spread over zones, instead of one.
   * @default false
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
  readonly version: string;
  readonly namespace: string;

  constructor(scope: Construct, id: string, props: DaprControlPlaneProps) {
    super(scope, id);
    this.version = props.version ?? topology.daprVersion;
    this.namespace = props.namespace ?? 'dapr-system';

    this.chart = new eks.HelmChart(this, 'Chart', {
      cluster: props.cluster,
      repository: DAPR_HELM_REPOSITORY,
      chart: 'dapr',
      release: 'dapr',
      version: this.version,
      namespace: this.namespace,
      createNamespace: true,
      // The apps' Deployments must not be applied before the injector's webhook answers: the
      // chart registers it with failurePolicy Ignore (webhookFailurePolicy in
      // charts/dapr/charts/dapr_sidecar_injector/values.yaml), so until then their pods are
      // admitted without a sidecar, as test/kubernetes shows on a real API server. `--wait`
      // holds the release until the injector's Pod is ready, and the injector reports ready only
      // once it has its certificate from Sentry, listens, and has patched the webhook's caBundle
      // (https://github.com/dapr/dapr/blob/v1.18.2/cmd/injector/app/app.go). The Workloads
      // manifest depends on this chart (orders-stack.ts), so it is applied after that.
      wait: true,
      timeout: Duration.minutes(15),
      values: daprHelmValues({ highAvailability: props.highAvailability ?? false }),
    });
  }
}
