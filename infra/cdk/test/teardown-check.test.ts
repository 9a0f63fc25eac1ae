import { expect } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { TeardownCheck } from '../lib/teardown-check';
import type { CustomResourceEvent, LambdaContext } from '../lib/teardown-check/handler';

// The teardown check's handler as Lambda runs it: the very bundle the CDK app deploys (esbuild's
// output, with the AWS SDK v3 clients inside), loaded as `index.handler`, against a loopback server
// that answers as CloudFormation's response URL and as the EC2 and ELBv2 Query APIs. What it must
// get right: it answers CloudFormation with the documented response object
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html), it
// asks EC2 for this VPC's groups and this cluster's instances, Pod network interfaces and volumes,
// and it counts as left over exactly the load balancers of this VPC, the groups the stack does not
// own, the cluster's instances that are not terminated, its Pod network interfaces, and the
// volumes that are not a node's own (attached with DeleteOnTermination); while time remains it
// looks again.

interface Recorded {
  responses: Record<string, unknown>[];
  calls: Record<string, string>[];
}

const recorded: Recorded = { responses: [], calls: [] };
/** What the fake account holds; each test sets it. */
let account = { loadBalancers: '', securityGroups: '', instances: '', networkInterfaces: '', volumes: '' };
/** Run after each DescribeInstances answer: what changes in the account between two looks. */
let afterInstances: () => void = () => undefined;
let server: Server;
let base = '';
let outdir = '';
let bundle = '';

const body = async (request: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const ec2Response = (action: string, content: string) =>
  `<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>${content}</${action}Response>`;
const xml: Record<string, () => string> = {
  DescribeLoadBalancers: () =>
    `<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeLoadBalancersResult><LoadBalancers>${account.loadBalancers}</LoadBalancers></DescribeLoadBalancersResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>`,
  DescribeSecurityGroups: () => ec2Response('DescribeSecurityGroups', `<securityGroupInfo>${account.securityGroups}</securityGroupInfo>`),
  DescribeInstances: () => {
    const answer = ec2Response('DescribeInstances', `<reservationSet>${account.instances}</reservationSet>`);
    afterInstances();
    return answer;
  },
  DescribeNetworkInterfaces: () => ec2Response('DescribeNetworkInterfaces', `<networkInterfaceSet>${account.networkInterfaces}</networkInterfaceSet>`),
  DescribeVolumes: () => ec2Response('DescribeVolumes', `<volumeSet>${account.volumes}</volumeSet>`),
};

type Handler = (event: CustomResourceEvent, context: LambdaContext) => Promise<void>;
let handler: Handler;

/** Synthesizes a TeardownCheck, as `cdk synth` does, and returns the path of its bundled code. */
function bundledHandler(): string {
  const app = new App({ outdir });
  const stack = new Stack(app, 'Check');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
  new TeardownCheck(stack, 'TeardownCheck', { vpc, clusterName: 'orders', expectedSecurityGroupIds: [], logRetention: logs.RetentionDays.ONE_DAY });
  const assembly = app.synth();
  const assets = JSON.parse(readFileSync(join(assembly.directory, 'Check.assets.json'), 'utf8')) as { files: Record<string, { source: { path: string } }> };
  const dirs = Object.values(assets.files).map((file) => file.source.path).filter((path) => path.startsWith('asset.'));
  expect(dirs).toHaveLength(1);
  return join(assembly.directory, dirs[0] as string, 'index.js');
}

beforeAll(async () => {
  server = createServer((request, response) => {
    void body(request).then((text) => {
      if (request.method === 'PUT') {
        recorded.responses.push(JSON.parse(text) as Record<string, unknown>);
        response.end();
        return;
      }
      const params = Object.fromEntries(new URLSearchParams(text));
      recorded.calls.push(params);
      const answer = xml[params.Action ?? ''];
      response.writeHead(answer ? 200 : 400, { 'content-type': 'text/xml' });
      response.end(answer ? answer() : '<Response><Errors><Error><Code>Unknown</Code></Error></Errors></Response>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  outdir = mkdtempSync(join(tmpdir(), 'teardown-check-'));
  bundle = bundledHandler();
  // The SDK's clients are made when the code loads: point them at the server first. Credentials
  // only to sign requests that never leave the machine.
  Object.assign(process.env, { AWS_ENDPOINT_URL: base, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  // Loaded as Lambda's runtime loads `index.handler`: a CommonJS module.
  handler = (createRequire(__filename)(bundle) as { handler: Handler }).handler;
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  for (const key of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete process.env[key];
  rmSync(outdir, { recursive: true, force: true });
});

beforeEach(() => {
  recorded.responses = [];
  recorded.calls = [];
  afterInstances = () => undefined;
});

const event = (requestType: CustomResourceEvent['RequestType']): CustomResourceEvent => ({
  RequestType: requestType,
  ResponseURL: `${base}/cloudformation-response`,
  StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/OrdersStack/1',
  RequestId: 'request-1',
  LogicalResourceId: 'TeardownCheck5F192A84',
  ResourceProperties: { VpcId: 'vpc-ours', ClusterName: 'orders', ExpectedSecurityGroupIds: ['sg-cluster', 'sg-cache'] },
});
/** A Lambda context with less than the minute the check keeps in hand: one look, no waiting. */
const lastLook = { getRemainingTimeInMillis: () => 30_000 };
const nothingLeft = {
  loadBalancers: '<member><LoadBalancerArn>arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/other/1</LoadBalancerArn><VpcId>vpc-other</VpcId></member>',
  securityGroups:
    '<item><groupId>sg-default</groupId><groupName>default</groupName></item><item><groupId>sg-cluster</groupId><groupName>eks-cluster-sg-orders</groupName></item><item><groupId>sg-cache</groupId><groupName>cache</groupName></item>',
  instances: '',
  networkInterfaces: '',
  volumes: '',
};
const runningNode =
  '<item><reservationId>r-1</reservationId><instancesSet><item><instanceId>i-node</instanceId><instanceState><code>32</code><name>shutting-down</name></instanceState></item></instancesSet></item>';

test('the deployed bundle carries its AWS SDK clients instead of the runtime\'s', () => {
  const code = readFileSync(bundle, 'utf8');
  expect(code).toContain('DescribeNetworkInterfaces');
  // Only optional SDK add-ons, which the SDK loads in a try (the CRT signer for SigV4a), stay requires.
  expect(code.match(/require\(["']@aws-sdk\/client-[^"']*["']\)/g) ?? []).toEqual([]);
});

test('on create it answers SUCCESS without asking AWS anything', async () => {
  await handler(event('Create'), lastLook);
  expect(recorded.calls).toEqual([]);
  expect(recorded.responses).toEqual([
    {
      Status: 'SUCCESS',
      Reason: expect.any(String),
      PhysicalResourceId: 'kubernetes-teardown-check',
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/OrdersStack/1',
      RequestId: 'request-1',
      LogicalResourceId: 'TeardownCheck5F192A84',
      Data: {},
    },
  ]);
});

test('on delete, with nothing of Kubernetes left, it answers SUCCESS, having asked for this VPC and this cluster', async () => {
  account = { ...nothingLeft, volumes: '<item><volumeId>vol-other</volumeId><status>in-use</status><attachmentSet><item><deleteOnTermination>true</deleteOnTermination></item></attachmentSet></item>' };
  await handler(event('Delete'), lastLook);
  expect(recorded.responses.map((response) => response.Status)).toEqual(['SUCCESS']);
  const call = (action: string) => recorded.calls.find((params) => params.Action === action);
  expect(call('DescribeLoadBalancers')).toBeDefined();
  expect(call('DescribeSecurityGroups')).toMatchObject({ 'Filter.1.Name': 'vpc-id', 'Filter.1.Value.1': 'vpc-ours' });
  // Auto Mode's instances of this cluster, in every state but terminated.
  expect(call('DescribeInstances')).toMatchObject({
    'Filter.1.Name': 'tag:eks:eks-cluster-name',
    'Filter.1.Value.1': 'orders',
    'Filter.2.Name': 'instance-state-name',
    'Filter.2.Value.1': 'pending',
    'Filter.2.Value.2': 'running',
    'Filter.2.Value.3': 'shutting-down',
    'Filter.2.Value.4': 'stopping',
    'Filter.2.Value.5': 'stopped',
  });
  expect(call('DescribeInstances')).not.toHaveProperty('Filter.2.Value.6');
  // The network interfaces Auto Mode's CNI made for this cluster's nodes.
  expect(call('DescribeNetworkInterfaces')).toMatchObject({
    'Filter.1.Name': 'tag:eks:eks-cluster-name',
    'Filter.1.Value.1': 'orders',
    'Filter.2.Name': 'tag-key',
    'Filter.2.Value.1': 'eks:kubernetes-cni-node-name',
  });
  expect(call('DescribeVolumes')).toMatchObject({ 'Filter.1.Name': 'tag:eks:eks-cluster-name', 'Filter.1.Value.1': 'orders' });
});

test('on delete, with an NLB, its security group, a node, its Pod interface and a released volume still there, it answers FAILED naming each', async () => {
  account = {
    loadBalancers: '<member><LoadBalancerArn>arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/k8s-orders/2</LoadBalancerArn><VpcId>vpc-ours</VpcId></member>',
    securityGroups: '<item><groupId>sg-cluster</groupId><groupName>eks-cluster-sg-orders</groupName></item><item><groupId>sg-nlb</groupId><groupName>k8s-orders-order-store</groupName></item>',
    instances: runningNode,
    networkInterfaces: '<item><networkInterfaceId>eni-pods</networkInterfaceId><status>in-use</status></item>',
    volumes:
      '<item><volumeId>vol-node</volumeId><status>in-use</status><attachmentSet><item><deleteOnTermination>true</deleteOnTermination></item></attachmentSet></item>' +
      '<item><volumeId>vol-scheduler</volumeId><status>available</status></item>',
  };
  await handler(event('Delete'), lastLook);
  expect(recorded.responses).toHaveLength(1);
  const [response] = recorded.responses as { Status: string; Reason: string }[];
  expect(response?.Status).toBe('FAILED');
  expect(response?.Reason).toContain('load balancer arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/k8s-orders/2');
  expect(response?.Reason).toContain('security group sg-nlb (k8s-orders-order-store)');
  expect(response?.Reason).toContain('instance i-node (shutting-down)');
  expect(response?.Reason).toContain('network interface eni-pods (in-use)');
  expect(response?.Reason).toContain('volume vol-scheduler (available)');
  expect(response?.Reason).not.toMatch(/sg-cluster|vol-node/);
});

test('while time remains it waits for the last node to be gone, then answers SUCCESS', async () => {
  account = { ...nothingLeft, instances: runningNode };
  afterInstances = () => {
    account = { ...account, instances: '' };
  };
  await handler(event('Delete'), { getRemainingTimeInMillis: () => 10 * 60_000 });
  expect(recorded.calls.filter((params) => params.Action === 'DescribeInstances')).toHaveLength(2);
  expect(recorded.responses.map((response) => response.Status)).toEqual(['SUCCESS']);
}, 60_000);
