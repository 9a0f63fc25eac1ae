import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { COLLECTOR, COLLECTOR_EXPORT_COMPONENT, COLLECTOR_OTLP_ADDRESS, EXPORTED_METRICS, INDEXED_ATTRIBUTES, ORDER_TRACE_QUERY, xrayAnnotationKey } from '../lib/observability/collector-manifests';
import { DEPLOY_DIR, loadDeployDir } from '../lib/manifests';
import { topology } from '../lib/topology';
import { flatten, logicalId, manifestsOf, type SynthObject, synth } from './helpers';

const { template } = synth({ allowedClientCidrs: '203.0.113.0/24' });
const resources = template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[]; Properties: Record<string, unknown> }>;
const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
const objects = [...manifestsOf(template).values()].flat();
const find = (kind: string, name: string): SynthObject => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in the synthesized manifests`);
  return found;
};
const roleId = logicalId(template, 'AWS::IAM::Role', 'ObservabilityCollectorRole');

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
}
const statementsOf = (role: string): Statement[] =>
  Object.values(resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy' && JSON.stringify(resource.Properties.Roles).includes(role))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);

describe('the OpenTelemetry collector on EKS', () => {
  test("its role is EKS Pod Identity's (pods.eks.amazonaws.com, AssumeRole and TagSession), bound to the collector's service account", () => {
    const trust = JSON.stringify(resources[roleId]!.Properties.AssumeRolePolicyDocument);
    expect(trust).toContain('pods.eks.amazonaws.com');
    expect(trust).toContain('sts:AssumeRole');
    expect(trust).toContain('sts:TagSession');
    template.hasResourceProperties('AWS::EKS::PodIdentityAssociation', {
      Namespace: topology.namespace,
      ServiceAccount: COLLECTOR.serviceAccount,
      RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
    });
    expect(find('ServiceAccount', COLLECTOR.serviceAccount).metadata.namespace).toBe(topology.namespace);
    // Auto Mode has the Pod Identity Agent built in: no add-on for it.
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::EKS::Addon').map((r) => r.Properties.AddonName)).toEqual(['amazon-cloudwatch-observability']);
  });

  test('may write X-Ray segments and metric events to its own log group, and nothing else', () => {
    const statements = statementsOf(roleId);
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
    expect(actions).toEqual(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    const logsStatement = statements.find((s) => JSON.stringify(s.Action).includes('logs:'))!;
    const logGroupId = logicalId(template, 'AWS::Logs::LogGroup', 'ObservabilityMetricsLogGroup');
    expect(logsStatement.Resource).toEqual({ 'Fn::GetAtt': [logGroupId, 'Arn'] });
    for (const statement of statements) expect(statement.Effect).toBe('Allow');
    expect(resources[logGroupId]!.Properties.LogGroupName).toBe('/orders/orders/metrics');
  });

  test('receives OTLP where deploy/ sends it, exports traces to X-Ray and the declared metrics to CloudWatch', () => {
    const deployment = find('Deployment', COLLECTOR.name);
    expect(JSON.stringify(deployment)).toContain(COLLECTOR.image);
    const config = parse((find('ConfigMap', `${COLLECTOR.name}-config`) as unknown as { data: Record<string, string> }).data['config.yaml']!) as {
      exporters: { awsxray: { indexed_attributes: string[] }; awsemf: { namespace: string; metric_declarations: unknown[] } };
      service: { pipelines: Record<string, { exporters: string[] }> };
    };
    expect(config.service.pipelines.traces!.exporters).toEqual(['awsxray']);
    expect(config.service.pipelines.metrics!.exporters).toEqual(['awsemf']);
    expect(config.exporters.awsxray.indexed_attributes).toContain('order.id');
    expect(config.exporters.awsemf.metric_declarations).toHaveLength(EXPORTED_METRICS.length);
  });

  test('the sidecars and the apps the stack deploys export to it, though deploy/ alone names no collector', () => {
    const dapr = find('Configuration', topology.daprConfiguration).spec as { tracing: { samplingRate: string; otel?: unknown } };
    expect(dapr.tracing.otel).toEqual({ endpointAddress: COLLECTOR_OTLP_ADDRESS, isSecure: false, protocol: 'http' });
    for (const app of [topology.orderStore.appId, topology.orderGenerator.appId]) {
      const containers = (find('Deployment', app).spec as { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } }).template.spec.containers;
      expect(containers[0]!.env).toContainEqual({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: `http://${COLLECTOR_OTLP_ADDRESS}` });
    }
    // The collector's address, not its name: network-policies.yaml selects its Pods by label, which
    // names nothing that must exist.
    const plain = loadDeployDir().files.flatMap((file) => file.objects);
    expect(JSON.stringify(plain)).not.toContain(COLLECTOR_OTLP_ADDRESS);
    // The component only adds the exporters: everything else is deploy/ as it is.
    const withExport = loadDeployDir(DEPLOY_DIR, [COLLECTOR_EXPORT_COMPONENT]).files.flatMap((file) => file.objects);
    expect(withExport.filter((object) => JSON.stringify(object).includes(COLLECTOR_OTLP_ADDRESS)).map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      `Configuration/${topology.daprConfiguration}`,
      `Deployment/${topology.orderGenerator.appId}`,
      `Deployment/${topology.orderStore.appId}`,
    ]);
  });

  test('the collector is applied once its Pod Identity association is there', () => {
    const manifestId = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'ObservabilityCollector');
    expect(resources[manifestId]!.DependsOn ?? []).toContain(logicalId(template, 'AWS::EKS::PodIdentityAssociation', 'ObservabilityCollectorPodIdentity'));
  });
});

describe('the CloudWatch dashboard', () => {
  const dashboardId = logicalId(template, 'AWS::CloudWatch::Dashboard', 'ObservabilityDashboard');
  const text = flatten(resources[dashboardId]!.Properties.DashboardBody);

  test('has the widgets the issue asks for: orders/s, p50/p99, errors by status, circuit-breaker opens, cache ECPU', () => {
    for (const title of ['Orders per second', 'Latency p50 / p99', 'Errors by status', 'Circuit breaker opens', 'Cache ECPU']) expect(text).toContain(title);
    expect(text).toContain('order_store_orders_total');
    expect(text).toContain('order_store_request_latency_seconds');
    expect(text).toContain('0.99');
    expect(text).toContain('order_store_orders_rejected_total');
    expect(text).toContain('dapr_resiliency_activations_total');
    expect(text).toContain('ElastiCacheProcessingUnits');
    expect(text).toContain('AWS/ElastiCache');
  });

  test('every metric the dashboard plots is one the collector exports', () => {
    const exported = EXPORTED_METRICS.flatMap((declaration) => declaration.metrics);
    const plotted = [...text.matchAll(/(order_[a-z_]+|dapr_[a-z_]+|process_[a-z_]+)/g)].map((match) => match[1]!);
    expect(plotted.length).toBeGreaterThan(5);
    for (const metric of plotted) expect(exported).toContain(metric);
  });

  test('its URL and the X-Ray trace search are stack outputs', () => {
    expect(JSON.stringify(outputs.DashboardUrl!.Value)).toContain('#dashboards/dashboard/');
    expect(JSON.stringify(outputs.TracesUrl!.Value)).toContain('xray:traces');
  });
});

describe('what the issue found wrong (issue 30 §6)', () => {
  const readme = readFileSync(resolve(__dirname, '../README.md'), 'utf8');

  test('the X-Ray annotation key is what the pinned exporter writes for order.id, and the documented query uses it', () => {
    // fixAnnotationKey with exporter.xray.allowDot on (beta since v0.97.0, so on in contrib v0.143.0 / ADOT v0.47.0).
    expect(xrayAnnotationKey('order.id')).toBe('order.id');
    expect(xrayAnnotationKey('order@id-x')).toBe('order_id_x');
    expect(INDEXED_ATTRIBUTES).toContain('order.id');
    const query = ORDER_TRACE_QUERY('curl-1');
    expect(query).toBe('annotation[order.id] = "curl-1"');
    expect(readme).toContain(`\`${query}\``);
    expect(readme).not.toContain('annotation.order_id');
    expect((outputs.TracesUrl as { Description?: string }).Description).toContain(query.replace('curl-1', '<orderId>'));
  });

  test("the apps' metrics are scraped on their metrics port, inside the cluster", () => {
    const config = parse((find('ConfigMap', `${COLLECTOR.name}-config`) as unknown as { data: Record<string, string> }).data['config.yaml']!) as {
      receivers: { prometheus: { config: { scrape_configs: { job_name: string; relabel_configs: { source_labels?: string[]; regex?: string; action?: string }[] }[] } } };
    };
    const apps = config.receivers.prometheus.config.scrape_configs.find((job) => job.job_name === 'orders-apps')!;
    expect(apps.relabel_configs).toContainEqual({ source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'metrics', action: 'keep' });
  });

  test("the dashboard shows each app's memory apart from its sidecar's", () => {
    const config = parse((find('ConfigMap', `${COLLECTOR.name}-config`) as unknown as { data: Record<string, string> }).data['config.yaml']!) as {
      receivers: { prometheus: { config: { scrape_configs: { job_name: string; relabel_configs: { source_labels?: string[]; target_label?: string }[] }[] } } };
    };
    for (const job of config.receivers.prometheus.config.scrape_configs.filter((j) => j.job_name !== 'dapr-sentry')) {
      expect(job.relabel_configs).toContainEqual(expect.objectContaining({ source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' }));
    }
    expect(EXPORTED_METRICS.find((d) => d.metrics.includes('process_resident_memory_bytes'))?.dimensions).toEqual([['app', 'container']]);
    const body = JSON.parse(flatten(resources[logicalId(template, 'AWS::CloudWatch::Dashboard', 'ObservabilityDashboard')]!.Properties.DashboardBody)) as {
      widgets: { properties: { metrics?: unknown[][] } }[];
    };
    const memory = body.widgets.flatMap((w) => w.properties.metrics ?? []).filter((m) => m.includes('process_resident_memory_bytes'));
    const series = memory.map((m) => `${m[m.indexOf('app') + 1] as string}/${m[m.indexOf('container') + 1] as string}`).sort();
    expect(series).toEqual(['order-generator/daprd', 'order-generator/order-generator', 'order-store/daprd', 'order-store/order-store']);
  });

  test('the collector exists before the workloads that send to it, and after their namespace', () => {
    const collector = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'ObservabilityCollector');
    const workloads = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'OrdersWorkloads');
    expect(resources[workloads]!.DependsOn).toContain(collector);
    expect(resources[collector]!.DependsOn).toContain(logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'OrdersNamespace'));
  });

  test("the README's outputs table names every stack output, and its cost table the metrics, the dashboard and X-Ray", () => {
    const section = readme.slice(readme.indexOf('| Output |'), readme.indexOf('Then, with the values'));
    for (const name of Object.keys(template.toJSON().Outputs as object)) expect({ name, listed: section.includes(`| \`${name}\` |`) }).toEqual({ name, listed: true });
    const costs = readme.slice(readme.indexOf('## What it costs'), readme.indexOf('## Without CDK'));
    for (const item of ['CloudWatch custom metrics', 'CloudWatch dashboard', 'AWS X-Ray']) expect(costs).toContain(`| ${item} |`);
  });
});

describe('logs and alarms (issue 30 §5)', () => {
  const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
  const alarm = (suffix: string) => {
    const found = alarms.find((a) => a.Properties.AlarmName === `orders-${suffix}`);
    if (!found) throw new Error(`no alarm orders-${suffix}`);
    return found.Properties as { Metrics?: { Id: string; Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: { Name: string; Value: unknown }[] }; Stat: string } }[]; MetricName?: string; Namespace?: string; Dimensions?: { Name: string; Value: unknown }[]; Threshold: number; ComparisonOperator: string; AlarmActions?: unknown };
  };
  /** The metrics an alarm reads: [namespace, name, {dimension: value}]. */
  const metricsOf = (suffix: string) => {
    const props = alarm(suffix);
    const dims = (list?: { Name: string; Value: unknown }[]) => Object.fromEntries((list ?? []).map((d) => [d.Name, flatten(d.Value)]));
    if (props.MetricName) return [[props.Namespace, props.MetricName, dims(props.Dimensions)] as const];
    return (props.Metrics ?? []).filter((m) => m.MetricStat).map((m) => [m.MetricStat!.Metric.Namespace, m.MetricStat!.Metric.MetricName, dims(m.MetricStat!.Metric.Dimensions)] as const);
  };
  /** A metric the collector sends: declared in EXPORTED_METRICS with exactly these dimensions. */
  const exported = (name: string, dimensions: string[]) =>
    EXPORTED_METRICS.some((d) => d.metrics.includes(name) && d.dimensions.some((set) => [...set].sort().join() === [...dimensions].sort().join()));

  test('every container log goes to a log group the stack owns, with its retention, through the CloudWatch Observability add-on', () => {
    for (const kind of ['application', 'dataplane', 'host', 'performance']) {
      template.hasResource('AWS::Logs::LogGroup', { Properties: { LogGroupName: `/aws/containerinsights/orders/${kind}`, RetentionInDays: 7 }, DeletionPolicy: 'Delete' });
    }
    const addon = Object.entries(resources).find(([, r]) => r.Type === 'AWS::EKS::Addon')!;
    const agentRole = logicalId(template, 'AWS::IAM::Role', 'ObservabilityCloudWatchAgentRole');
    expect(addon[1].Properties).toMatchObject({ AddonName: 'amazon-cloudwatch-observability', PodIdentityAssociations: [{ ServiceAccount: 'cloudwatch-agent', RoleArn: { 'Fn::GetAtt': [agentRole, 'Arn'] } }] });
    // The groups exist before the agent, which would otherwise create them without retention.
    expect(addon[1].DependsOn).toEqual(expect.arrayContaining(Object.keys(template.findResources('AWS::Logs::LogGroup')).filter((id) => id.startsWith('ObservabilityContainerLogs'))));
    expect(JSON.stringify(resources[agentRole]!.Properties)).toContain('CloudWatchAgentServerPolicy');
  });

  test("order-store's 5xx rate: the refusals it counts with status 503 and 500", () => {
    const metrics = metricsOf('OrderStore5xx');
    expect(metrics).toEqual([
      ['Orders', 'order_store_orders_rejected_total', { status: '503' }],
      ['Orders', 'order_store_orders_rejected_total', { status: '500' }],
    ]);
    for (const [, name, dims] of metrics) expect(exported(name, Object.keys(dims))).toBe(true);
    // What the app answers: unavailable state 503, anything unexpected 500.
    const app = readFileSync(resolve(__dirname, '../../../apps/order-store/src/routes.ts'), 'utf8') + readFileSync(resolve(__dirname, '../../../apps/order-store/src/http-errors.ts'), 'utf8');
    expect(app).toMatch(/new HttpError\(503,/);
    expect(app).toMatch(/new HttpError\(500,/);
  });

  test("order-store's p99: its latency gauge's 0.99 quantile", () => {
    expect(metricsOf('OrderStoreP99')).toEqual([['Orders', 'order_store_request_latency_seconds', { quantile: '0.99' }]]);
    expect(exported('order_store_request_latency_seconds', ['quantile'])).toBe(true);
    expect(readFileSync(resolve(__dirname, '../../../packages/common/src/metrics.ts'), 'utf8')).toMatch(/const QUANTILES = \[[^\]]*0\.99/);
  });

  test("a circuit breaker open: daprd's resiliency activations with policy circuitbreaker, status open, for both sidecars", () => {
    const metrics = metricsOf('CircuitBreakerOpen');
    expect(metrics.map(([, , dims]) => dims.app_id).sort()).toEqual([topology.orderGenerator.appId, topology.orderStore.appId].sort());
    for (const [namespace, name, dims] of metrics) {
      expect({ namespace, name, policy: dims.policy, status: dims.status }).toEqual({ namespace: 'Orders', name: 'dapr_resiliency_activations_total', policy: 'circuitbreaker', status: 'open' });
      expect(exported(name, Object.keys(dims))).toBe(true);
    }
  });

  test("the cache's ECPU near its ceiling: 80% of cacheMaxEcpuPerSecond per minute", () => {
    expect(metricsOf('CacheEcpuNearCeiling')).toEqual([['AWS/ElastiCache', 'ElastiCacheProcessingUnits', { clusterId: `<<Ref:${logicalId(template, 'AWS::ElastiCache::ServerlessCache', 'Cache')}>>` }]]);
    expect(alarm('CacheEcpuNearCeiling').Threshold).toBe(0.8 * 5000 * 60);
  });

  test("the mTLS issuer within 30 days of expiry: Sentry's issuer expiry, scraped from dapr-system and exported", () => {
    expect(metricsOf('MtlsIssuerExpiry')).toEqual([['Orders', 'dapr_sentry_issuercert_expiry_timestamp', {}]]);
    expect(exported('dapr_sentry_issuercert_expiry_timestamp', [])).toBe(true);
    const props = alarm('MtlsIssuerExpiry');
    expect(props.Metrics?.find((m) => m.Expression)?.Expression).toBe('(expiry - EPOCH(expiry)) / 86400');
    expect({ threshold: props.Threshold, operator: props.ComparisonOperator }).toEqual({ threshold: 30, operator: 'LessThanThreshold' });
    const config = parse((find('ConfigMap', `${COLLECTOR.name}-config`) as unknown as { data: Record<string, string> }).data['config.yaml']!) as {
      receivers: { prometheus: { config: { scrape_configs: { job_name: string; kubernetes_sd_configs: { namespaces: { names: string[] } }[]; relabel_configs: unknown[] }[] } } };
    };
    const sentry = config.receivers.prometheus.config.scrape_configs.find((job) => job.job_name === 'dapr-sentry')!;
    expect(sentry.kubernetes_sd_configs[0]!.namespaces.names).toEqual(['dapr-system']);
    expect(sentry.relabel_configs).toContainEqual({ source_labels: ['__meta_kubernetes_pod_label_app'], regex: 'dapr-sentry', action: 'keep' });
    const roles = objects.filter((o) => o.kind === 'Role' && o.metadata.namespace === 'dapr-system');
    expect(roles.map((r) => r.metadata.name)).toEqual([`${COLLECTOR.name}-pod-discovery`]);
  });

  test('without alarmEmail the alarms have no action; with it, they notify an SNS topic that emails it', () => {
    expect(alarms).toHaveLength(5);
    for (const a of alarms) expect(a.Properties.AlarmActions).toBeUndefined();
    const { template: withEmail } = synth({ alarmEmail: 'oncall@example.com', orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    const topic = logicalId(withEmail, 'AWS::SNS::Topic', 'ObservabilityAlarmTopic');
    for (const a of Object.values(withEmail.findResources('AWS::CloudWatch::Alarm'))) expect((a as { Properties: { AlarmActions: unknown } }).Properties.AlarmActions).toEqual([{ Ref: topic }]);
  });
});
