import { expect } from '@jest/globals';
import { App, Stage } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { principalOfCaller } from '../lib/deploying-identity';
import { OrdersStack } from '../lib/orders-stack';
import { readSettings } from '../lib/settings';
import { clientAccessString } from '../lib/cache';
import { DAPR_HELM_REPOSITORY, daprCrds } from '../lib/dapr-control-plane';
import { DAPR_VERSION_ANNOTATION } from '../lib/manifests';
import { CACHE_SECRET_STORE } from '../lib/orders-app';
import { topology } from '../lib/topology';
import { CHECK_ACTIONS } from '../lib/teardown-check';
import { DEPLOYER_ARN, deletedBefore, directDependencies, flatten, logicalId, manifestsOf, type Stack, type SynthObject, synth } from './helpers';

// One synth for most assertions: it is the slow part.
const { stack, template } = synth({ allowedClientCidrs: '203.0.113.0/24,198.51.100.7/32' });
const resources = template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[]; Properties: Record<string, unknown> }>;
const manifests = manifestsOf(template);
const objects = [...manifests.values()].flat();
const find = (kind: string, name: string): SynthObject => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in the synthesized manifests`);
  return found;
};
const clusterId = logicalId(template, 'AWS::EKS::Cluster', 'Cluster');

describe('cluster', () => {
  test('is EKS Auto Mode with both built-in node pools, nodes in private subnets', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      Name: 'orders',
      Version: '1.36',
      ComputeConfig: { Enabled: true, NodePools: ['system', 'general-purpose'] },
      KubernetesNetworkConfig: { ElasticLoadBalancing: { Enabled: true } },
      StorageConfig: { BlockStorage: { Enabled: true } },
      ResourcesVpcConfig: {
        SubnetIds: [1, 2, 3].map((zone) => ({ Ref: Match.stringLikeRegexp(`NetworkVpcprivateSubnet${zone}`) })),
      },
    });
  });

  test('logs every control-plane log type to a log group the stack owns and deletes', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      Logging: {
        ClusterLogging: {
          EnabledTypes: ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'].map((type) => ({ Type: type })),
        },
      },
    });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: '/aws/eks/orders/cluster', RetentionInDays: 7 },
      DeletionPolicy: 'Delete',
    });
    expect(resources[clusterId]?.DependsOn).toContain(logicalId(template, 'AWS::Logs::LogGroup', 'ClusterControlPlaneLogs'));
  });

  test('gives the admin role a cluster-admin access entry', () => {
    const adminRole = logicalId(template, 'AWS::IAM::Role', 'ClusterAdminRole');
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      PrincipalArn: { 'Fn::GetAtt': [adminRole, 'Arn'] },
      AccessPolicies: [
        Match.objectLike({
          PolicyArn: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('AmazonEKSClusterAdminPolicy')])]) }),
        }),
      ],
    });
  });
});

describe('cache', () => {
  const cacheSg = logicalId(template, 'AWS::EC2::SecurityGroup', 'CacheSecurityGroup');

  test('is ElastiCache Serverless Valkey in the private subnets, reachable only through the VPC', () => {
    template.resourceCountIs('AWS::ElastiCache::ServerlessCache', 1);
    template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      MajorEngineVersion: '8',
      ConnectionType: 'vpc',
      SecurityGroupIds: [{ 'Fn::GetAtt': [cacheSg, 'GroupId'] }],
      SubnetIds: [1, 2, 3].map((zone) => ({ Ref: Match.stringLikeRegexp(`NetworkVpcprivateSubnet${zone}`) })),
    });
    template.hasResource('AWS::ElastiCache::ServerlessCache', { DeletionPolicy: 'Delete' });
  });

  test('its security group admits the cluster on 6379 and 6380 (the read-from-replica port the topology lists) and nothing else', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('ElastiCache'),
      SecurityGroupIngress: Match.absent(),
      SecurityGroupEgress: [Match.objectLike({ CidrIp: '255.255.255.255/32' })],
    });
    const ingress = Object.values(resources).filter(
      (resource) =>
        resource.Type === 'AWS::EC2::SecurityGroupIngress' &&
        JSON.stringify(resource.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [cacheSg, 'GroupId'] }),
    );
    // https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ReadReplicas.html: serverless
    // answers on 6379 (primary) and 6380 (read from replica); authorize both.
    expect(ingress.map((rule) => rule.Properties)).toEqual(
      [6379, 6380].map((port) => ({
        GroupId: { 'Fn::GetAtt': [cacheSg, 'GroupId'] },
        IpProtocol: 'tcp',
        FromPort: port,
        ToPort: port,
        SourceSecurityGroupId: { 'Fn::GetAtt': [clusterId, 'ClusterSecurityGroupId'] },
        Description: expect.any(String),
      })),
    );
  });

  test('TLS is on for the state store that points at it', () => {
    const metadata = (find('Component', topology.stateStore).spec as { metadata: { name: string; value: string }[] }).metadata;
    const value = (name: string) => metadata.find((item) => item.name === name)?.value;
    expect(value('enableTLS')).toBe('true');
    expect(value('redisHost')).toBe(
      `<<GetAtt:${logicalId(template, 'AWS::ElastiCache::ServerlessCache', 'Cache')}.Endpoint.Address>>:<<GetAtt:${logicalId(template, 'AWS::ElastiCache::ServerlessCache', 'Cache')}.Endpoint.Port>>`,
    );
  });
});

describe('Dapr control plane', () => {
  test('is the official chart pinned to the version local runs use, in dapr-system, HA by default, with requests, priority and the injector watchdog', () => {
    template.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Chart: 'dapr',
      Release: 'dapr',
      Repository: DAPR_HELM_REPOSITORY,
      Version: topology.daprVersion,
      Namespace: 'dapr-system',
      CreateNamespace: Match.absent(),
      Wait: true,
    });
    const values = helmValues(template, 'dapr');
    expect(values).toMatchObject({
      global: { ha: { enabled: true }, priorityClassName: 'system-cluster-critical' },
      dapr_sidecar_injector: { sidecarDropALLCapabilities: true },
      dapr_operator: { watchInterval: expect.stringMatching(/^[1-9]\d*[sm]$/) },
    });
    for (const service of ['dapr_operator', 'dapr_sidecar_injector', 'dapr_sentry', 'dapr_placement', 'dapr_scheduler']) {
      expect({ service, requests: (values as Record<string, { resources?: { requests?: unknown } }>)[service]?.resources?.requests }).toEqual({
        service,
        requests: { cpu: expect.any(String), memory: expect.any(String) },
      });
    }
    // The namespace is the stack's (dapr-control-plane.ts), applied before the chart.
    const prerequisites = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'DaprPrerequisites');
    expect(manifests.get(prerequisites)?.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual(['Namespace/dapr-system', 'StorageClass/dapr-scheduler-ebs-gp3']);
    expect(resources[logicalId(template, 'Custom::AWSCDK-EKS-HelmChart', 'DaprChart')]?.DependsOn).toContain(prerequisites);
  });

  test('helm\'s wait ends minutes before the kubectl handler\'s Lambda timeout, so the handler can still answer', () => {
    const charts = template.findResources('Custom::AWSCDK-EKS-HelmChart') as Record<string, { Properties: { Release: string; Timeout?: string } }>;
    const dapr = Object.values(charts).find((chart) => chart.Properties.Release === 'dapr');
    const waitSeconds = Number(/^(\d+)s$/.exec(dapr?.Properties.Timeout ?? '')?.[1]);
    const handler = Object.entries(resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('ClusterKubectlProviderHandler'));
    const lambdaSeconds = handler?.[1].Properties.Timeout as number;
    expect(lambdaSeconds).toBe(900);
    expect(lambdaSeconds - waitSeconds).toBeGreaterThanOrEqual(180);
  });

  test('daprHa=false, the cheap choice, turns HA mode off', () => {
    const { template: single } = synth({ daprHa: 'false', maxAzs: '2', orderStoreImage: 'example/store:1', orderGeneratorImage: 'example/gen:1' });
    expect(helmValues(single, 'dapr')).toMatchObject({ global: { ha: { enabled: false } } });
    single.resourceCountIs('AWS::EC2::Subnet', 4);
  });

  test('the version\'s CRDs are applied before the chart, which skips its own, and taken away after it', () => {
    const crds = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'DaprCrds');
    expect(manifests.get(crds)?.map((object) => object.metadata.name).sort()).toEqual(daprCrds(topology.daprVersion).map((crd) => crd.metadata.name).sort());
    // overwrite: the handler applies them on create too, adopting CRDs an earlier chart install made.
    expect(resources[crds]?.Properties).toMatchObject({ Overwrite: true });
    const chart = logicalId(template, 'Custom::AWSCDK-EKS-HelmChart', 'DaprChart');
    expect(resources[chart]?.DependsOn).toContain(crds);
    expect(resources[chart]?.Properties).toMatchObject({ Version: topology.daprVersion, SkipCrds: true });
  });

  test('a daprVersion without a copy of its CRDs fails the synth, naming how to add one', () => {
    expect(() => synth({ daprVersion: '1.18.1', orderStoreImage: 'example/store:1', orderGeneratorImage: 'example/gen:1' })).toThrow(
      /daprVersion 1\.18\.1: .*dapr-crds has no copy .*helm pull dapr .*--version 1\.18\.1/,
    );
  });

  test('HA puts one Dapr raft member in each of three zones: three zones of subnets, one replica per zone required', () => {
    expect(helmValues(template, 'dapr')).toMatchObject({ global: { ha: { enabled: true, podAntiAffinityPolicy: 'requiredDuringSchedulingIgnoredDuringExecution' } } });
    const zones = Object.values(resources)
      .filter((resource) => resource.Type === 'AWS::EC2::Subnet')
      .map((subnet) => JSON.stringify(subnet.Properties.AvailabilityZone));
    expect(new Set(zones).size).toBe(3);
  });
});

describe('orders manifests', () => {
  test('come from deploy/ with Dapr annotations on both Deployments', () => {
    for (const app of [topology.orderStore, topology.orderGenerator]) {
      const annotations = template_(find('Deployment', app.appId)).metadata?.annotations ?? {};
      expect(annotations).toMatchObject({
        'dapr.io/enabled': 'true',
        'dapr.io/app-id': app.appId,
        'dapr.io/app-port': String(app.port),
        'dapr.io/config': topology.daprConfiguration,
        'dapr.io/enable-app-health-check': 'true',
        'dapr.io/sidecar-listen-addresses': '127.0.0.1',
        'dapr.io/graceful-shutdown-seconds': expect.any(String),
        // A version bump changes the template, so the Deployment rolls its Pods onto the new sidecar.
        [DAPR_VERSION_ANNOTATION]: topology.daprVersion,
      });
    }
    expect(template_(find('Deployment', topology.orderStore.appId)).metadata?.annotations).toMatchObject({
      'dapr.io/app-token-secret': 'order-store-app-api-token',
    });
  });

  test('order-generator is Ready only while its sidecar is: its readiness probe asks /readyz, liveness /healthz', () => {
    const container = (find('Deployment', topology.orderGenerator.appId).spec as {
      template: { spec: { containers: { name: string; readinessProbe?: { httpGet?: { path: string } }; livenessProbe?: { httpGet?: { path: string } } }[] } };
    }).template.spec.containers.find((c) => c.name === topology.orderGenerator.appId);
    expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(container?.livenessProbe?.httpGet?.path).toBe('/healthz');
  });

  test('build both images from the one Dockerfile, each picked by its APP build argument', () => {
    const images = Stage.of(stack)!
      .synth()
      .artifacts.filter((artifact): artifact is AssetManifestArtifact => artifact instanceof AssetManifestArtifact)
      .flatMap((manifest) => Object.values(manifest.contents.dockerImages ?? {}))
      .map(({ source }) => ({ file: source.dockerFile, args: source.dockerBuildArgs }));
    expect(images).toEqual(
      expect.arrayContaining([topology.orderStore.appId, topology.orderGenerator.appId].map((app) => ({ file: 'Dockerfile', args: { APP: app } }))),
    );
    expect(images).toHaveLength(2);
  });

  test('carry the built images, and the replicas from context', () => {
    const store = find('Deployment', topology.orderStore.appId);
    expect(containers(store)[0]?.image).toMatch(/^<<Sub:\$\{AWS::AccountId\}\.dkr\.ecr\..*container-assets.*:[0-9a-f]{64}>>$/);
    expect((store.spec as { replicas: number }).replicas).toBe(2);
    const { template: custom } = synth({
      orderStoreImage: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/store:v1',
      orderGeneratorImage: 'ghcr.io/example/generator:v1',
      orderStoreReplicas: '3',
    });
    const customObjects = [...manifestsOf(custom).values()].flat();
    const deployment = (name: string) => customObjects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as SynthObject;
    expect(containers(deployment('order-store'))[0]?.image).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com/store:v1');
    expect(containers(deployment('order-generator'))[0]?.image).toBe('ghcr.io/example/generator:v1');
    expect((deployment('order-store').spec as { replicas: number }).replicas).toBe(3);
    expect(JSON.stringify(custom.toJSON())).not.toContain('container-assets');
  });

  test('order-store is a LoadBalancer Service that becomes an internet-facing NLB for the allowed CIDRs only', () => {
    const service = find('Service', topology.orderStore.appId);
    expect(service.metadata.annotations).toMatchObject({
      'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing',
    });
    expect(service.spec).toMatchObject({
      type: 'LoadBalancer',
      loadBalancerSourceRanges: ['203.0.113.0/24', '198.51.100.7/32'],
      ports: [{ port: 80, targetPort: 'http' }],
    });
  });

  test('generate the token Secrets in the cluster, never in the template', () => {
    template.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Release: 'order-store-tokens',
      Namespace: topology.namespace,
      ChartAssetURL: Match.anyValue(),
    });
    expect(helmValues(template, 'order-store-tokens')).toEqual({ secrets: ['order-store-app-api-token', 'order-store-write-token'] });
    expect(objects.some((object) => object.kind === 'Secret')).toBe(false);

    const { template: open } = synth({ writeToken: 'false', orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
    expect(helmValues(open, 'order-store-tokens')).toEqual({ secrets: ['order-store-app-api-token'] });
    expect(Object.keys(open.findOutputs('WriteTokenCommand'))).toHaveLength(0);
    // Every output command works as printed: no $TOKEN to fill in, nor a WriteTokenCommand to run first.
    const newOrder = open.findOutputs('NewOrderCommand').NewOrderCommand as { Value: unknown; Description: string };
    expect(flatten(newOrder.Value)).not.toMatch(/Authorization|TOKEN/);
    expect(newOrder.Description).not.toContain('WriteTokenCommand');
  });

  test('are applied in order: namespace, then Dapr resources and tokens, then workloads', () => {
    const id = (prefix: string) => logicalId(template, prefix.startsWith('OrdersTokens') ? 'Custom::AWSCDK-EKS-HelmChart' : 'Custom::AWSCDK-EKS-KubernetesResource', prefix);
    const dependsOn = (prefix: string) => resources[id(prefix)]?.DependsOn ?? [];
    const daprChart = logicalId(template, 'Custom::AWSCDK-EKS-HelmChart', 'DaprChart');
    expect(dependsOn('OrdersNamespace')).toContain(daprChart);
    expect(dependsOn('OrdersDaprResources')).toContain(id('OrdersNamespace'));
    expect(dependsOn('OrdersTokens')).toContain(id('OrdersNamespace'));
    expect(dependsOn('OrdersWorkloads')).toEqual(expect.arrayContaining([id('OrdersDaprResources'), id('OrdersTokens'), daprChart]));
  });

  test('the workloads (and so the NLB) are deleted before any part of the VPC', () => {
    const workloads = resources[logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'OrdersWorkloads')]?.DependsOn ?? [];
    const network = Object.entries(resources)
      .filter(([id, resource]) => id.startsWith('NetworkVpc') && resource.Type.startsWith('AWS::EC2::'))
      .map(([id]) => id);
    for (const type of ['AWS::EC2::VPCGatewayAttachment', 'AWS::EC2::InternetGateway', 'AWS::EC2::NatGateway', 'AWS::EC2::Route', 'AWS::EC2::Subnet']) {
      expect(network.some((id) => resources[id]?.Type === type)).toBe(true);
    }
    expect(workloads).toEqual(expect.arrayContaining(network));
    expect(resources[clusterId]?.DependsOn).toEqual(expect.arrayContaining(network));
  });
});

describe('the kubectl handler', () => {
  // aws-eks-v2 (aws-cdk-lib 2.276.0, cluster.js and kubectl-provider.js): with private endpoint
  // access and private subnets, the handler and its provider framework function run in the
  // private subnets, with kubectlProviderOptions.securityGroups or else the EKS-made cluster group.
  // Looked up in each test, so that without the group only these tests fail.
  const kubectlSg = () => logicalId(template, 'AWS::EC2::SecurityGroup', 'ClusterKubectlSecurityGroup');
  const vpcFunctions = Object.entries(resources).filter(
    ([id, resource]) => resource.Type === 'AWS::Lambda::Function' && id.startsWith('ClusterKubectlProvider'),
  );

  test('runs in the private subnets with a security group the stack owns, not the cluster security group', () => {
    expect(vpcFunctions.map(([id]) => id)).toEqual([expect.stringMatching(/^ClusterKubectlProviderHandler/), expect.stringMatching(/^ClusterKubectlProviderframeworkonEvent/)]);
    for (const [, fn] of vpcFunctions) {
      expect(fn.Properties.VpcConfig).toEqual({
        SecurityGroupIds: [{ 'Fn::GetAtt': [kubectlSg(), 'GroupId'] }],
        SubnetIds: [1, 2, 3].map((zone) => ({ Ref: expect.stringMatching(new RegExp(`^NetworkVpcprivateSubnet${zone}`)) })),
      });
    }
  });

  test('its group sends HTTPS, and DNS inside the VPC, only, and the API endpoint admits it on 443', () => {
    const vpcCidr = { 'Fn::GetAtt': [logicalId(template, 'AWS::EC2::VPC', 'NetworkVpc'), 'CidrBlock'] };
    expect(resources[kubectlSg()]?.Properties.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: expect.any(String) },
      { CidrIp: vpcCidr, IpProtocol: 'udp', FromPort: 53, ToPort: 53, Description: expect.any(String) },
      { CidrIp: vpcCidr, IpProtocol: 'tcp', FromPort: 53, ToPort: 53, Description: expect.any(String) },
    ]);
    const controlPlaneSg = logicalId(template, 'AWS::EC2::SecurityGroup', 'ClusterControlPlaneSecurityGroup');
    const admitted = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties.SourceSecurityGroupId) === JSON.stringify({ 'Fn::GetAtt': [kubectlSg(), 'GroupId'] }))
      .map(([id, r]) => ({ id, group: r.Properties.GroupId, port: [r.Properties.FromPort, r.Properties.ToPort] }));
    expect(admitted.map(({ group, port }) => ({ group, port }))).toEqual(
      expect.arrayContaining([
        { group: { 'Fn::GetAtt': [clusterId, 'ClusterSecurityGroupId'] }, port: [443, 443] },
        { group: { 'Fn::GetAtt': [controlPlaneSg, 'GroupId'] }, port: [443, 443] },
      ]),
    );
    expect(admitted).toHaveLength(2);
    // Every kubectl resource waits on the barrier: the rules are there before the first apply and
    // deleted after the last delete.
    const barrier = logicalId(template, 'AWS::SSM::Parameter', 'ClusterKubectlReadyBarrier');
    expect(resources[barrier]?.DependsOn).toEqual(expect.arrayContaining(admitted.map(({ id }) => id)));
  });
});

describe('destroy order', () => {
  const dependencies = directDependencies(template);
  const check = () => logicalId(template, 'Custom::KubernetesTeardownCheck', 'TeardownCheck');
  const workloads = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'OrdersWorkloads');
  const network = Object.entries(resources)
    .filter(([id, resource]) => id.startsWith('NetworkVpc') && resource.Type.startsWith('AWS::EC2::'))
    .map(([id]) => id);

  test('the workloads (and so the NLB) and Dapr\'s namespace, then the check that they are gone, then the network and the cluster', () => {
    expect(deletedBefore(dependencies, workloads, check())).toBe(true);
    const daprNamespace = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'DaprPrerequisites');
    expect(deletedBefore(dependencies, daprNamespace, check())).toBe(true);
    expect(deletedBefore(dependencies, logicalId(template, 'Custom::AWSCDK-EKS-HelmChart', 'DaprChart'), daprNamespace)).toBe(true);
    for (const id of [...network, clusterId]) {
      expect({ id, after: deletedBefore(dependencies, check(), id) }).toEqual({ id, after: true });
    }
  });

  test('the check waits for no load balancer, no security group but the stack\'s, no Auto Mode node and no Pod interface in the VPC', () => {
    const props = resources[check()]?.Properties as { VpcId: unknown; ExpectedSecurityGroupIds: unknown[] };
    expect(props.VpcId).toEqual({ Ref: logicalId(template, 'AWS::EC2::VPC', 'NetworkVpc') });
    const stackGroups = Object.keys(template.findResources('AWS::EC2::SecurityGroup')).map((id) => ({ 'Fn::GetAtt': [id, 'GroupId'] }));
    expect(props.ExpectedSecurityGroupIds).toEqual(expect.arrayContaining([{ 'Fn::GetAtt': [clusterId, 'ClusterSecurityGroupId'] }, ...stackGroups]));
    expect(props.ExpectedSecurityGroupIds).toHaveLength(stackGroups.length + 1);
    expect(props).toMatchObject({ ClusterName: 'orders' });
    // The bundled handler (test/teardown-check.test.ts runs it), not inline code.
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
      Timeout: 900,
      VpcConfig: Match.absent(),
      Code: { S3Bucket: Match.anyValue(), S3Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.zip$') },
      Description: Match.stringLikeRegexp('Auto Mode node'),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([{ Effect: 'Allow', Resource: '*', Action: [...CHECK_ACTIONS] }]) },
    });
    // It may see the Auto Mode nodes and their Pods' network interfaces, which it waits for.
    expect(CHECK_ACTIONS).toEqual(expect.arrayContaining(['ec2:DescribeInstances', 'ec2:DescribeNetworkInterfaces']));
  });

  test('the cache, and its rules, which name the cluster security group, go before the cluster', () => {
    expect(deletedBefore(dependencies, logicalId(template, 'AWS::ElastiCache::ServerlessCache', 'Cache'), clusterId)).toBe(true);
    const cacheRules = Object.entries(resources)
      .filter(([id, r]) => r.Type === 'AWS::EC2::SecurityGroupIngress' && id.startsWith('CacheSecurityGroup'))
      .map(([id]) => id);
    expect(cacheRules).toHaveLength(2);
    for (const rule of cacheRules) expect(deletedBefore(dependencies, rule, clusterId)).toBe(true);
  });
});

describe('clean destroy', () => {
  test('every Lambda function logs into a log group the stack owns and deletes, not one Lambda makes itself', () => {
    const raw = template.toJSON().Resources as Record<string, { Type: string; DeletionPolicy?: string; Properties: { LoggingConfig?: { LogGroup?: { Ref?: string } } } }>;
    const functions = Object.entries(raw).filter(([, resource]) => resource.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    for (const [id, fn] of functions) {
      const ref = fn.Properties.LoggingConfig?.LogGroup?.Ref;
      expect({ id, ref: typeof ref }).toEqual({ id, ref: 'string' });
      expect(raw[ref!]).toMatchObject({ Type: 'AWS::Logs::LogGroup', DeletionPolicy: 'Delete' });
    }
  });
});

describe('network', () => {
  test('tags public subnets for internet-facing load balancers and private ones for internal', () => {
    const tags = (prefix: string) =>
      Object.entries(resources)
        .filter(([id, r]) => r.Type === 'AWS::EC2::Subnet' && id.startsWith(prefix))
        .map(([, r]) => r.Properties.Tags);
    for (const subnetTags of tags('NetworkVpcpublic')) expect(subnetTags).toEqual(expect.arrayContaining([{ Key: 'kubernetes.io/role/elb', Value: '1' }]));
    for (const subnetTags of tags('NetworkVpcprivate')) expect(subnetTags).toEqual(expect.arrayContaining([{ Key: 'kubernetes.io/role/internal-elb', Value: '1' }]));
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });
});

describe('outputs', () => {
  const output = (name: string) => flatten((template.findOutputs(name)[name] as { Value: unknown }).Value);

  test('give the load balancer URL and the curls to use it', () => {
    const url = output('LoadBalancerUrl');
    expect(url).toMatch(/^http:\/\/<<GetAtt:OrdersLoadBalancerAddress\w+\.Value>>$/);
    expect(output('NewOrderCommand')).toBe(
      `curl -sS -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"data":{"orderId":"curl-1"}}' ${url}/neworder`,
    );
    expect(output('GetOrderCommand')).toBe(`curl -sS ${url}/order`);
    expect(output('WriteTokenCommand')).toBe(
      "export TOKEN=$(kubectl get secret order-store-write-token -n orders -o jsonpath='{.data.token}' | base64 -d)",
    );
  });

  test('give the kubeconfig command and the cache endpoint', () => {
    expect(output('KubeconfigCommand')).toMatch(
      /^aws eks update-kubeconfig --name <<Ref:Cluster\w+>> --region <<Ref:AWS::Region>> --role-arn <<GetAtt:ClusterAdminRole\w+\.Arn>>$/,
    );
    expect(output('CacheEndpoint')).toMatch(/^<<GetAtt:Cache\w+\.Endpoint\.Address>>:<<GetAtt:Cache\w+\.Endpoint\.Port>>$/);
  });

  test('the load balancer address is read only after the workloads exist', () => {
    const address = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesObjectValue', 'OrdersLoadBalancerAddress');
    expect(resources[address]?.DependsOn).toContain(logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'OrdersWorkloads'));
    expect(resources[address]?.Properties).toMatchObject({
      ObjectType: 'service',
      ObjectName: 'order-store',
      ObjectNamespace: 'orders',
      JsonPath: '.status.loadBalancer.ingress[0].hostname',
    });
  });
});

function helmValues(t: Template, release: string): unknown {
  const chart = Object.values(t.findResources('Custom::AWSCDK-EKS-HelmChart')).find(
    (resource) => (resource as { Properties: { Release: string } }).Properties.Release === release,
  ) as { Properties: { Values: unknown } } | undefined;
  if (!chart) throw new Error(`no Helm release ${release}`);
  return JSON.parse(flatten(chart.Properties.Values));
}

function template_(deployment: SynthObject): { metadata?: { annotations?: Record<string, string> } } {
  return (deployment.spec as { template: { metadata?: { annotations?: Record<string, string> } } }).template;
}

function containers(deployment: SynthObject): { name: string; image: string }[] {
  return (deployment.spec as { template: { spec: { containers: { name: string; image: string }[] } } }).template.spec.containers;
}

describe('nothing reachable that need not be (issue 30 §2)', () => {
  // Annotations.addWarningV2 records each warning as metadata on the construct; the CLI prints them at synth.
  const warnings = (stack: Stack) => stack.node.metadata.filter((entry) => entry.type === 'aws:cdk:warning').map((entry) => JSON.stringify(entry.data));

  test('the Kubernetes API endpoint open to 0.0.0.0/0 warns at synth, like the load balancer; narrowed, neither warns', () => {
    const open = synth({ orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
    expect(warnings(open.stack).some((w) => w.includes('apiAllowedCidrs'))).toBe(true);
    expect(warnings(open.stack).some((w) => w.includes('allowedClientCidrs'))).toBe(true);
    const narrow = synth({ apiAllowedCidrs: '203.0.113.0/24', allowedClientCidrs: '203.0.113.0/24', orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
    expect(warnings(narrow.stack).filter((w) => /apiAllowedCidrs|allowedClientCidrs/.test(w))).toEqual([]);
  });

  test('the admin role trusts the deploying identity, or adminPrincipalArns, never the account root', () => {
    const trustOf = (t: Template) =>
      (t.toJSON().Resources as Record<string, { Properties: { AssumeRolePolicyDocument: { Statement: { Principal: unknown; Action: string }[] } } }>)[
        logicalId(t, 'AWS::IAM::Role', 'ClusterAdminRole')
      ]!.Properties.AssumeRolePolicyDocument.Statement;
    expect(trustOf(template)).toEqual([{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: DEPLOYER_ARN } }]);
    const admins = ['arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123', 'arn:aws:iam::123456789012:user/alice'];
    const { template: named } = synth({ adminPrincipalArns: admins.join(','), orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
    expect(trustOf(named)).toEqual(admins.map((arn) => ({ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: arn } })));
    expect(JSON.stringify([trustOf(template), trustOf(named)])).not.toMatch(/:root|AWS::AccountId/);
    // Without credentials and without adminPrincipalArns (an offline synth): the CDK deploy role, never the root, and a warning.
    const app = new App();
    new OrdersStack(app, 'Offline', { settings: readSettings(() => undefined, {}) });
    const offline = app.synth().getStackByName('Offline');
    const offlineTrust = JSON.stringify(trustOf(Template.fromJSON(offline.template as Record<string, unknown>)));
    expect(offlineTrust).toContain('cdk-hnb659fds-deploy-role');
    expect(offlineTrust).not.toMatch(/:root/);
    expect(offline.messages.filter((m) => JSON.stringify(m.entry.data).includes('adminPrincipalArns'))).not.toHaveLength(0);
  });

  test("the deploying identity is the caller's user, or the role (with its path) of its assumed-role session; the root is refused", () => {
    const roles: Record<string, string> = { AWSReservedSSO_Admin_0123: 'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123' };
    const lookup = (name: string) => roles[name] ?? `arn:aws:iam::123456789012:role/${name}`;
    expect(principalOfCaller('arn:aws:iam::123456789012:user/alice', lookup)).toBe('arn:aws:iam::123456789012:user/alice');
    expect(principalOfCaller('arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com', lookup)).toBe(roles.AWSReservedSSO_Admin_0123);
    expect(() => principalOfCaller('arn:aws:iam::123456789012:root', lookup)).toThrow(/adminPrincipalArns/);
  });
});

describe('TLS at the edge (issue 30 §1)', () => {
  const certificateArn = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b';
  const tls = synth({ certificateArn, domainName: 'orders.example.com', orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
  const tlsService = [...manifestsOf(tls.template).values()].flat().find((o) => o.kind === 'Service' && o.metadata.name === topology.orderStore.appId)!;
  const warningsOf = (stack: Stack) => stack.node.metadata.filter((entry) => entry.type === 'aws:cdk:warning').map((entry) => JSON.stringify(entry.data));

  test('with a certificate, the NLB listens with TLS on 443 through the Auto Mode annotations, forwarding to the app port', () => {
    expect(tlsService.metadata.annotations).toMatchObject({
      'service.beta.kubernetes.io/aws-load-balancer-ssl-cert': certificateArn,
      'service.beta.kubernetes.io/aws-load-balancer-ssl-ports': '443',
      'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing',
    });
    expect(tlsService.spec).toMatchObject({ ports: [{ name: 'https', port: 443, targetPort: 'http', protocol: 'TCP' }] });
    const output = (name: string) => flatten((tls.template.findOutputs(name)[name] as { Value: unknown }).Value);
    expect(output('LoadBalancerUrl')).toBe('https://orders.example.com');
    expect(output('NewOrderCommand')).toContain('https://orders.example.com/neworder');
    expect(output('DnsRecord')).toMatch(/^orders\.example\.com\. CNAME <<GetAtt:OrdersLoadBalancerAddress\w+\.Value>>\.$/);
    expect(warningsOf(tls.stack).filter((w) => w.includes('plain HTTP'))).toEqual([]);
  });

  test('without one it stays HTTP on 80, and synth warns naming the risk to the token', () => {
    const service = find('Service', topology.orderStore.appId);
    expect(Object.keys(service.metadata.annotations ?? {}).filter((key) => key.includes('ssl'))).toEqual([]);
    const plain = synth({ orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' });
    const warning = warningsOf(plain.stack).find((w) => w.includes('plain HTTP'));
    expect(warning).toMatch(/write token .*cleartext.*certificateArn/);
    expect(Object.keys(plain.template.findOutputs('DnsRecord'))).toEqual([]);
  });

  test('a certificate needs its domain name, and the other way round', () => {
    expect(() => readSettings((key) => ({ certificateArn })[key], {})).toThrow(/domainName: expected certificateArn and domainName together/);
    expect(() => readSettings((key) => ({ domainName: 'orders.example.com' })[key], {})).toThrow(/certificateArn/);
    expect(() => readSettings((key) => ({ certificateArn: 'arn:aws:iam::123456789012:role/x', domainName: 'orders.example.com' })[key], {})).toThrow(/ACM certificate ARN/);
  });
});

describe('a cache that asks for a password (issue 30 §3)', () => {
  const cacheId = logicalId(template, 'AWS::ElastiCache::ServerlessCache', 'Cache');
  const userId = logicalId(template, 'AWS::ElastiCache::User', 'CacheUser');
  const secretId = logicalId(template, 'AWS::SecretsManager::Secret', 'CachePassword');
  const component = () => find('Component', topology.stateStore) as SynthObject & { auth?: { secretStore: string }; spec: { metadata: { name: string; value?: string; secretKeyRef?: unknown }[] } };

  test('ElastiCache Serverless has a user group of one user, the one the state store signs in as; no default user', () => {
    const groupId = logicalId(template, 'AWS::ElastiCache::UserGroup', 'CacheUserGroup');
    expect(resources[cacheId]?.Properties.UserGroupId).toEqual({ Ref: groupId });
    expect(resources[groupId]?.Properties).toMatchObject({ Engine: 'valkey', UserIds: [{ Ref: userId }] });
    template.resourceCountIs('AWS::ElastiCache::User', 1);
    const username = component().spec.metadata.find((item) => item.name === 'redisUsername')?.value;
    expect(resources[userId]?.Properties).toMatchObject({
      UserName: username,
      Engine: 'valkey',
      AccessString: clientAccessString(username!),
      AuthenticationMode: { Type: 'password' },
    });
    expect(username).toBe(topology.orderStore.appId);
  });

  test('the password is generated by Secrets Manager; the template holds only a dynamic reference to it', () => {
    expect(resources[secretId]?.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 64, ExcludePunctuation: true });
    const passwords = (resources[userId]?.Properties.AuthenticationMode as { Passwords: unknown[] }).Passwords;
    expect(passwords.map(flatten)).toEqual([`{{resolve:secretsmanager:<<Ref:${secretId}>>:SecretString:::}}`]);
    // Nowhere else: not in any output, not in anything the kubectl handler is given.
    const json = JSON.stringify(template.toJSON());
    expect(json.match(/resolve:secretsmanager/g)).toHaveLength(1);
    expect(JSON.stringify(template.toJSON().Outputs)).not.toContain(secretId);
    for (const type of ['Custom::AWSCDK-EKS-KubernetesResource', 'Custom::AWSCDK-EKS-HelmChart']) {
      expect(JSON.stringify(template.findResources(type))).not.toMatch(/resolve:secretsmanager|SecretString/);
    }
    expect(objects.some((object) => object.kind === 'Secret')).toBe(false);
  });

  test("it reaches order-store's sidecar through Dapr's AWS Secrets Manager store, with order-store's Pod Identity that may read that secret only", () => {
    expect(component().auth).toEqual({ secretStore: CACHE_SECRET_STORE });
    expect(component().spec.metadata.find((item) => item.name === 'redisPassword')?.secretKeyRef).toEqual({ name: `<<Ref:${secretId}>>`, key: `<<Ref:${secretId}>>` });
    const store = find('Component', CACHE_SECRET_STORE) as SynthObject & { scopes: string[] };
    expect(store.spec).toEqual({ type: 'secretstores.aws.secretmanager', version: 'v1', metadata: [{ name: 'region', value: '<<Ref:AWS::Region>>' }] });
    expect(store.scopes).toEqual([topology.orderStore.appId]);
    const roleId = logicalId(template, 'AWS::IAM::Role', 'OrdersOrderStoreRole');
    template.hasResourceProperties('AWS::EKS::PodIdentityAssociation', { Namespace: topology.namespace, ServiceAccount: topology.orderStore.appId, RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] } });
    const statements = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(roleId))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement);
    expect(statements).toEqual([expect.objectContaining({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: { Ref: secretId } })]);
    const workloads = logicalId(template, 'Custom::AWSCDK-EKS-KubernetesResource', 'OrdersWorkloads');
    expect(resources[workloads]?.DependsOn).toContain(logicalId(template, 'AWS::EKS::PodIdentityAssociation', 'OrdersOrderStorePodIdentity'));
  });
});
