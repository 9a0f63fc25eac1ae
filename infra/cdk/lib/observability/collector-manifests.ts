import { stringify } from 'yaml';
import type { K8sObject } from '../manifests';
import { topology } from '../topology';

/**
 * The OpenTelemetry collector of the cluster: the AWS Distro for OpenTelemetry (ADOT) Collector,
 * as plain Kubernetes objects in the orders namespace (restricted Pod Security Standard, like the
 * apps). Why ADOT, and why not through an add-on, is in infra/cdk/README.md (Observability).
 *
 * It receives OTLP/HTTP from both sidecars and both apps, once deploy/ is applied with the
 * component COLLECTOR_EXPORT_COMPONENT (tracing.otel, OTEL_EXPORTER_OTLP_ENDPOINT), and scrapes the apps' GET /metrics and the sidecars'
 * Prometheus port; traces go to AWS X-Ray (awsxray exporter), metrics to CloudWatch as embedded
 * metric format log events (awsemf exporter), which CloudWatch turns into metrics.
 */
export const COLLECTOR = {
  name: 'otel-collector',
  /** Its Pod Identity association names this service account (observability.ts). */
  serviceAccount: 'otel-collector',
  /**
   * ADOT Collector v0.47.0 from its public ECR repository; the release EKS Anywhere packages
   * (aws/eks-anywhere-build-tooling, projects/aws-observability/aws-otel-collector/README.md).
   */
  image: 'public.ecr.aws/aws-observability/aws-otel-collector:v0.47.0',
  otlpHttpPort: 4318,
  healthPort: 13133,
  /** The CloudWatch namespace the app and sidecar metrics land in. */
  metricsNamespace: 'Orders',
} as const;

/** Span attributes the awsxray exporter turns into X-Ray annotations (the apps set them: order.id on every order's span). */
export const INDEXED_ATTRIBUTES = ['order.id', 'order.outcome'] as const;

/**
 * The X-Ray annotation key the exporter writes for a span attribute. ADOT v0.47.0 is built on
 * collector-contrib v0.143.0, whose `exporter.xray.allowDot` feature gate is beta, so on by
 * default: fixAnnotationKey keeps ASCII letters, digits and dots and makes anything else `_`
 * (exporter/awsxrayexporter/internal/translator/segment.go at v0.143.0). `order.id` stays `order.id`.
 */
export function xrayAnnotationKey(attribute: string): string {
  return attribute.replace(/[^0-9A-Za-z.]/g, '_');
}

/**
 * The X-Ray filter expression that finds one order's traces. A key with a dot is written in
 * brackets, `annotation[key]`, as X-Ray's filter expressions take such keys
 * (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html), as AWS's own
 * Application Signals queries write `annotation[aws.local.operation]`; `annotation.order.id` would
 * read as a key `order`.
 */
export const ORDER_TRACE_QUERY = (orderId: string): string => `annotation[${xrayAnnotationKey('order.id')}] = "${orderId}"`;

/** The container Dapr's injector adds to each app's Pod (dapr/pkg/injector/consts/consts.go at v1.18.2: SidecarContainerName). */
export const SIDECAR_CONTAINER = 'daprd';

/** What the sidecars' and apps' OTLP exporters are pointed at by COLLECTOR_EXPORT_COMPONENT. */
export const COLLECTOR_OTLP_ADDRESS = `${COLLECTOR.name}.${topology.namespace}.svc.cluster.local:${COLLECTOR.otlpHttpPort}`;

/** deploy/'s kustomize component that sends the sidecars' and apps' traces to this collector. */
export const COLLECTOR_EXPORT_COMPONENT = 'components/otel-collector-export';

export interface CollectorSettings {
  /** The AWS Region the exporters send to. */
  readonly region: string;
  /** The log group the awsemf exporter writes metric events to (the stack creates it). */
  readonly metricsLogGroupName: string;
  /** The Dapr control plane's namespace, where Sentry's metrics are scraped. @default 'dapr-system' */
  readonly daprNamespace?: string;
}

/**
 * Sentry's Pods, as the Dapr chart labels them (`app: dapr-sentry`), and the port its metrics are
 * on (global.prometheus.port, 9090 by default, in charts/dapr/values.yaml at v1.18.2).
 */
export const SENTRY_METRICS = { podLabel: 'dapr-sentry', port: 9090 } as const;

/** Dimension sets of each exported metric; a metric not declared here is not sent (CloudWatch bills per metric). */
export const EXPORTED_METRICS: ReadonlyArray<{ metrics: string[]; dimensions: string[][] }> = [
  { metrics: ['order_store_orders_total'], dimensions: [['outcome']] },
  { metrics: ['order_store_orders_rejected_total'], dimensions: [['status'], ['status', 'reason']] },
  { metrics: ['order_store_request_latency_seconds', 'order_generator_order_latency_seconds'], dimensions: [['quantile']] },
  { metrics: ['order_store_pointer_writes_total', 'order_store_pointer_races_total'], dimensions: [[]] },
  {
    metrics: [
      'order_generator_orders_generated_total',
      'order_generator_orders_confirmed_total',
      'order_generator_orders_dropped_total',
      'order_generator_retries_total',
      'order_generator_backlog',
      'order_generator_in_flight',
    ],
    dimensions: [[]],
  },
  // Dapr's resiliency metrics (dapr/pkg/diagnostics/resiliency_monitoring.go at v1.18.2): an
  // activation of the circuit-breaker policy with status "open" is a breaker opening.
  { metrics: ['dapr_resiliency_activations_total'], dimensions: [['app_id', 'policy', 'status']] },
  { metrics: ['process_resident_memory_bytes'], dimensions: [['app', 'container']] },
  // When Sentry's issuing certificate expires, in Unix seconds (dapr/pkg/sentry/monitoring/metrics.go
  // at v1.18.2): what the mTLS-expiry alarm counts down to.
  { metrics: ['dapr_sentry_issuercert_expiry_timestamp'], dimensions: [[]] },
];

/** Prometheus scrape jobs over the orders namespace's pods: the apps' metrics port, the sidecars' dapr-metrics port. */
function scrapeJob(jobName: string, container: string, portName: string) {
  return {
    job_name: jobName,
    scrape_interval: '30s',
    kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [topology.namespace] } }],
    relabel_configs: [
      { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], regex: `${topology.orderStore.appId}|${topology.orderGenerator.appId}`, action: 'keep' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], regex: container, action: 'keep' },
      { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: portName, action: 'keep' },
      { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], target_label: 'app' },
      // The app and its sidecar are two processes of one Pod: `container` keeps their process metrics apart.
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    ],
  };
}

/** The collector's own configuration, as the ConfigMap carries it. */
export function collectorConfig(settings: CollectorSettings): Record<string, unknown> {
  const daprNamespace = settings.daprNamespace ?? 'dapr-system';
  return {
    extensions: { health_check: { endpoint: `0.0.0.0:${COLLECTOR.healthPort}` } },
    receivers: {
      otlp: { protocols: { http: { endpoint: `0.0.0.0:${COLLECTOR.otlpHttpPort}` } } },
      prometheus: {
        config: {
          scrape_configs: [
            // Each app container's GET /metrics is on its port named `metrics` (METRICS_PORT in
            // deploy/order-*.yaml), which no Service publishes: scraped here, inside the cluster.
            scrapeJob('orders-apps', `${topology.orderStore.appId}|${topology.orderGenerator.appId}`, 'metrics'),
            // Dapr's injector names the sidecar's metrics port dapr-metrics (9090): dapr/pkg/injector/consts/consts.go at v1.18.2.
            scrapeJob('dapr-sidecars', SIDECAR_CONTAINER, 'dapr-metrics'),
            {
              job_name: 'dapr-sentry',
              scrape_interval: '60s',
              kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [daprNamespace] } }],
              relabel_configs: [
                { source_labels: ['__meta_kubernetes_pod_label_app'], regex: SENTRY_METRICS.podLabel, action: 'keep' },
                { source_labels: ['__meta_kubernetes_pod_container_port_number'], regex: String(SENTRY_METRICS.port), action: 'keep' },
              ],
            },
          ],
        },
      },
    },
    processors: {
      memory_limiter: { check_interval: '1s', limit_percentage: 80, spike_limit_percentage: 20 },
      batch: { timeout: '5s' },
    },
    exporters: {
      awsxray: {
        region: settings.region,
        // Indexed attributes become X-Ray annotations, which filter expressions search:
        // ORDER_TRACE_QUERY finds an order's trace.
        indexed_attributes: [...INDEXED_ATTRIBUTES],
      },
      awsemf: {
        region: settings.region,
        namespace: COLLECTOR.metricsNamespace,
        log_group_name: settings.metricsLogGroupName,
        dimension_rollup_option: 'NoDimensionRollup',
        metric_declarations: EXPORTED_METRICS.map(({ metrics, dimensions }) => ({ dimensions, metric_name_selectors: metrics.map((name) => `^${name}$`) })),
      },
    },
    service: {
      extensions: ['health_check'],
      pipelines: {
        traces: { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['awsxray'] },
        metrics: { receivers: ['prometheus'], processors: ['memory_limiter', 'batch'], exporters: ['awsemf'] },
      },
    },
  };
}

/** The collector's ServiceAccount, RBAC for pod discovery, ConfigMap, Deployment and Service. */
export function collectorManifests(settings: CollectorSettings): K8sObject[] {
  const namespace = topology.namespace;
  const daprNamespace = settings.daprNamespace ?? 'dapr-system';
  const labels = { 'app.kubernetes.io/name': COLLECTOR.name, 'app.kubernetes.io/part-of': 'orders' };
  const metadata = (name: string) => ({ name, namespace, labels });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(COLLECTOR.serviceAccount), automountServiceAccountToken: true },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: metadata(`${COLLECTOR.name}-pod-discovery`),
      // Only what Prometheus' kubernetes_sd_configs (role: pod) reads, in this namespace only.
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: metadata(`${COLLECTOR.name}-pod-discovery`),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${COLLECTOR.name}-pod-discovery` },
      subjects: [{ kind: 'ServiceAccount', name: COLLECTOR.serviceAccount, namespace }],
    },
    // The same, in Dapr's namespace, for Sentry's certificate-expiry metric.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { ...metadata(`${COLLECTOR.name}-pod-discovery`), namespace: daprNamespace },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { ...metadata(`${COLLECTOR.name}-pod-discovery`), namespace: daprNamespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${COLLECTOR.name}-pod-discovery` },
      subjects: [{ kind: 'ServiceAccount', name: COLLECTOR.serviceAccount, namespace }],
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(`${COLLECTOR.name}-config`), data: { 'config.yaml': stringify(collectorConfig(settings)) } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(COLLECTOR.name),
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'app.kubernetes.io/name': COLLECTOR.name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: COLLECTOR.serviceAccount,
            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'collector',
                image: COLLECTOR.image,
                args: ['--config=/etc/otel/config.yaml'],
                ports: [
                  { name: 'otlp-http', containerPort: COLLECTOR.otlpHttpPort, protocol: 'TCP' },
                  { name: 'health', containerPort: COLLECTOR.healthPort, protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/', port: 'health' }, periodSeconds: 10 },
                livenessProbe: { httpGet: { path: '/', port: 'health' }, periodSeconds: 30 },
                resources: { requests: { cpu: '100m', memory: '200Mi' }, limits: { memory: '400Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [{ name: 'config', mountPath: '/etc/otel', readOnly: true }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: `${COLLECTOR.name}-config` } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(COLLECTOR.name),
      spec: {
        selector: { 'app.kubernetes.io/name': COLLECTOR.name },
        ports: [{ name: 'otlp-http', port: COLLECTOR.otlpHttpPort, targetPort: 'otlp-http', protocol: 'TCP' }],
      },
    },
  ];
}
