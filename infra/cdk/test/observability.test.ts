import { parse } from 'yaml';
import { COLLECTOR, COLLECTOR_EXPORT_COMPONENT, COLLECTOR_OTLP_ADDRESS, EXPORTED_METRICS } from '../lib/observability/collector-manifests';
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
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::EKS::Addon')).toEqual([]);
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
    const plain = loadDeployDir().files.flatMap((file) => file.objects);
    expect(JSON.stringify(plain)).not.toContain(COLLECTOR.name);
    // The component only adds the exporters: everything else is deploy/ as it is.
    const withExport = loadDeployDir(DEPLOY_DIR, [COLLECTOR_EXPORT_COMPONENT]).files.flatMap((file) => file.objects);
    expect(withExport.filter((object) => JSON.stringify(object).includes(COLLECTOR.name)).map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      `Configuration/${topology.daprConfiguration}`,
      `Deployment/${topology.orderGenerator.appId}`,
      `Deployment/${topology.orderStore.appId}`,
    ]);
  });

  test('the collector is applied once the namespace exists and its Pod Identity association is there', () => {
    const manifestId = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'ObservabilityCollector');
    const dependsOn = resources[manifestId]!.DependsOn ?? [];
    expect(dependsOn).toContain(logicalId(template, 'AWS::EKS::PodIdentityAssociation', 'ObservabilityCollectorPodIdentity'));
    expect(dependsOn.some((id) => id.startsWith('OrdersWorkloads') || id.startsWith('OrdersNamespace'))).toBe(true);
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
