import { readSettings, SettingsError } from '../lib/settings';
import { topology } from '../lib/topology';

const from = (context: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => readSettings((key) => context[key], env);

test('every setting has a default, so a bare `cdk deploy` works', () => {
  expect(from({})).toEqual({
    clusterName: 'orders',
    maxAzs: 3,
    natGateways: 1,
    apiAllowedCidrs: ['0.0.0.0/0'],
    allowedClientCidrs: ['0.0.0.0/0'],
    adminPrincipalArns: [],
    daprVersion: topology.daprVersion,
    daprHa: true,
    orderStoreReplicas: 2,
    orderGeneratorReplicas: 1,
    writeToken: true,
    cacheMaxDataStorageGb: 1,
    cacheMaxEcpuPerSecond: 5000,
    logRetentionDays: 7,
  });
  expect(from({}, { CDK_DEFAULT_REGION: 'eu-west-1' }).region).toBe('eu-west-1');
});

test('reads `-c key=value` strings and cdk.json values alike', () => {
  const settings = from({
    region: 'eu-central-1',
    maxAzs: '3',
    natGateways: 3,
    allowedClientCidrs: '203.0.113.0/24, 198.51.100.7/32',
    apiAllowedCidrs: ['192.0.2.0/24'],
    adminPrincipalArns: 'arn:aws:iam::123456789012:role/Admin',
    daprHa: 'true',
    writeToken: false,
    orderStoreImage: 'registry/store:1',
  });
  expect(settings).toMatchObject({
    region: 'eu-central-1',
    maxAzs: 3,
    natGateways: 3,
    allowedClientCidrs: ['203.0.113.0/24', '198.51.100.7/32'],
    apiAllowedCidrs: ['192.0.2.0/24'],
    adminPrincipalArns: ['arn:aws:iam::123456789012:role/Admin'],
    daprHa: true,
    writeToken: false,
    orderStoreImage: 'registry/store:1',
  });
});

test.each([
  [{ maxAzs: '1' }, /maxAzs/],
  [{ natGateways: '3', maxAzs: '2', daprHa: 'false' }, /natGateways.*1 to 2/],
  [{ maxAzs: '2' }, /maxAzs: expected 3 with daprHa=true/],
  [{ allowedClientCidrs: '203.0.113.0/33' }, /allowedClientCidrs/],
  [{ allowedClientCidrs: 'everyone' }, /allowedClientCidrs/],
  [{ daprHa: 'yes' }, /daprHa/],
  [{ daprVersion: 'latest' }, /daprVersion/],
  [{ clusterName: 'my cluster' }, /clusterName/],
  [{ adminPrincipalArns: 'arn:aws:sts::123456789012:assumed-role/Admin/me' }, /adminPrincipalArns/],
  [{ logRetentionDays: '10' }, /logRetentionDays/],
])('refuses %j, naming the key', (context, message) => {
  expect(() => from(context)).toThrow(SettingsError);
  expect(() => from(context)).toThrow(message);
});

test('daprHa=false, the cheap choice for a test cluster, may run in two zones', () => {
  expect(from({ daprHa: 'false', maxAzs: '2' })).toMatchObject({ daprHa: false, maxAzs: 2 });
});

test('an empty value (`-c key=`) is the default, as an absent one is', () => {
  expect(from({ clusterName: '', maxAzs: '', daprHa: '', allowedClientCidrs: '', daprVersion: null })).toEqual(from({}));
});

test('names every bad key at once, with what it expects and what it got', () => {
  expect(() => from({ maxAzs: 'two', writeToken: 'yes', region: 'Europe' })).toThrow(
    /context region: expected a region like eu-west-1, got "Europe"\ncontext maxAzs: expected an integer from 2 to 3, got "two"\ncontext writeToken: expected true or false, got "yes"/,
  );
});
