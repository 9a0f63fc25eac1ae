import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Network } from '../lib/network';

// Dapr in HA mode needs three zones (settings.ts). A stack that does not know both its account and
// its region, as in a synth without credentials where the CLI still passes the profile's region,
// gets only two zones from Stack.availabilityZones; the VPC must have three anyway.

const subnetZones = (env: { account?: string; region?: string }, maxAzs: number): number => {
  const stack = new Stack(new App(), 'Net', { env });
  new Network(stack, 'Network', { maxAzs });
  const subnets = Template.fromStack(stack).findResources('AWS::EC2::Subnet') as Record<string, { Properties: { AvailabilityZone: unknown } }>;
  return new Set(Object.values(subnets).map((subnet) => JSON.stringify(subnet.Properties.AvailabilityZone))).size;
};

test.each([
  ['no account, no region', {}],
  ['a region but no account', { region: 'eu-west-1' }],
])('with %s, maxAzs=3 gives subnets in three zones', (_name, env) => {
  expect(subnetZones(env, 3)).toBe(3);
});

test('maxAzs=2 gives two', () => {
  expect(subnetZones({ region: 'eu-west-1' }, 2)).toBe(2);
});
