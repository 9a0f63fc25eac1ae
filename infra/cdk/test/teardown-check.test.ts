import { expect } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
import { CHECK_SOURCE } from '../lib/teardown-check';

// The teardown check's own code, run as Lambda runs it (an `exports.handler` of CommonJS inline
// code, with the AWS SDK v3 the Node.js runtime carries), against a loopback server that answers
// as CloudFormation's response URL and as the EC2 and ELBv2 Query APIs. What it must get right:
// it answers CloudFormation with the documented response object
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html), it
// asks EC2 for this VPC's groups and this cluster's volumes, and it counts as left over exactly
// the load balancers of this VPC, the groups the stack does not own, and the volumes that are
// not a node's own (attached with DeleteOnTermination).

interface Recorded {
  responses: Record<string, unknown>[];
  calls: Record<string, string>[];
}

const recorded: Recorded = { responses: [], calls: [] };
/** What the fake account holds; each test sets it. */
let account = { loadBalancers: '', securityGroups: '', volumes: '' };
let server: Server;
let base = '';

const body = async (request: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const xml = {
  DescribeLoadBalancers: () =>
    `<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeLoadBalancersResult><LoadBalancers>${account.loadBalancers}</LoadBalancers></DescribeLoadBalancersResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>`,
  DescribeSecurityGroups: () =>
    `<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><securityGroupInfo>${account.securityGroups}</securityGroupInfo></DescribeSecurityGroupsResponse>`,
  DescribeVolumes: () =>
    `<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><volumeSet>${account.volumes}</volumeSet></DescribeVolumesResponse>`,
};

type Handler = (event: Record<string, unknown>, context: { getRemainingTimeInMillis: () => number }) => Promise<void>;
let handler: Handler;

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
      const answer = (xml as Record<string, (() => string) | undefined>)[params.Action ?? ''];
      response.writeHead(answer ? 200 : 400, { 'content-type': 'text/xml' });
      response.end(answer ? answer() : '<Response><Errors><Error><Code>Unknown</Code></Error></Errors></Response>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The SDK's clients are made when the code loads: point them at the server first. Credentials
  // only to sign requests that never leave the machine.
  Object.assign(process.env, { AWS_ENDPOINT_URL: base, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  const loaded = { exports: {} as { handler?: Handler } };
  // Wrapped as Node wraps a CommonJS module, and compiled by node:vm as Lambda's runtime loads it.
  const run = new Script(`(function (exports, require, module) {\n${CHECK_SOURCE}\n})`, { filename: 'teardown-check.js' }).runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: object,
  ) => void;
  run(loaded.exports, createRequire(__filename), loaded);
  handler = loaded.exports.handler as Handler;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  for (const key of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete process.env[key];
});

beforeEach(() => {
  recorded.responses = [];
  recorded.calls = [];
});

const event = (requestType: string) => ({
  RequestType: requestType,
  ResponseURL: `${base}/cloudformation-response`,
  StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/OrdersStack/1',
  RequestId: 'request-1',
  LogicalResourceId: 'TeardownCheck5F192A84',
  ResourceProperties: { VpcId: 'vpc-ours', ClusterName: 'orders', ExpectedSecurityGroupIds: ['sg-cluster', 'sg-cache'] },
});
/** A Lambda context with less than the minute the check keeps in hand: one look, no waiting. */
const lastLook = { getRemainingTimeInMillis: () => 30_000 };

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
  account = {
    loadBalancers: '<member><LoadBalancerArn>arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/other/1</LoadBalancerArn><VpcId>vpc-other</VpcId></member>',
    securityGroups:
      '<item><groupId>sg-default</groupId><groupName>default</groupName></item><item><groupId>sg-cluster</groupId><groupName>eks-cluster-sg-orders</groupName></item><item><groupId>sg-cache</groupId><groupName>cache</groupName></item>',
    volumes: '<item><volumeId>vol-node</volumeId><status>in-use</status><attachmentSet><item><deleteOnTermination>true</deleteOnTermination></item></attachmentSet></item>',
  };
  await handler(event('Delete'), lastLook);
  expect(recorded.responses.map((response) => response.Status)).toEqual(['SUCCESS']);
  const call = (action: string) => recorded.calls.find((params) => params.Action === action);
  expect(call('DescribeLoadBalancers')).toBeDefined();
  expect(call('DescribeSecurityGroups')).toMatchObject({ 'Filter.1.Name': 'vpc-id', 'Filter.1.Value.1': 'vpc-ours' });
  expect(call('DescribeVolumes')).toMatchObject({ 'Filter.1.Name': 'tag:eks:eks-cluster-name', 'Filter.1.Value.1': 'orders' });
});

test('on delete, with an NLB, its security group and a released volume still there, it answers FAILED naming each', async () => {
  account = {
    loadBalancers: '<member><LoadBalancerArn>arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/k8s-orders/2</LoadBalancerArn><VpcId>vpc-ours</VpcId></member>',
    securityGroups: '<item><groupId>sg-cluster</groupId><groupName>eks-cluster-sg-orders</groupName></item><item><groupId>sg-nlb</groupId><groupName>k8s-orders-order-store</groupName></item>',
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
  expect(response?.Reason).toContain('volume vol-scheduler (available)');
  expect(response?.Reason).not.toMatch(/sg-cluster|vol-node/);
});
