import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { nagSuppressions } from '../lib/nag-suppressions';
import { OrdersStack } from '../lib/orders-stack';
import { readSettings } from '../lib/settings';
import { DEPLOYER_ARN } from './helpers';

interface Violation {
  ruleName: string;
  severity: string;
  violatingConstructs: { constructPath: string }[];
}
interface ValidationReport {
  pluginReports: { pluginName: string; conclusion: string; violations: Violation[] }[];
}

/** Synthesizes an app with the AwsSolutions pack, as bin/app.ts does, and returns its findings. */
function nagFindings(build: (app: App) => Stack): { stack: Stack; findings: string[]; error: unknown } {
  const outdir = mkdtempSync(join(tmpdir(), 'orders-nag-'));
  try {
    const app = new App({ outdir });
    const stack = build(app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    let error: unknown;
    try {
      app.synth();
    } catch (caught) {
      error = caught;
    }
    let report: ValidationReport = { pluginReports: [] };
    try {
      report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
    } catch {
      // No report file: the plugin found nothing to report.
    }
    const findings = report.pluginReports.flatMap((plugin) =>
      plugin.violations.flatMap((violation) =>
        violation.violatingConstructs.map((construct) => `${plugin.pluginName} ${violation.severity} ${violation.ruleName} ${construct.constructPath}`),
      ),
    );
    return { stack, findings, error };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const orders = (context: Record<string, string>) => (app: App) => {
  for (const [key, value] of Object.entries(context)) app.node.setContext(key, value);
  return new OrdersStack(app, 'OrdersStack', { settings: readSettings((key) => app.node.tryGetContext(key), {}), deployingPrincipalArn: DEPLOYER_ARN });
};

describe('cdk-nag AwsSolutions', () => {
  const { stack, findings, error } = nagFindings(orders({ allowedClientCidrs: '203.0.113.0/24' }));

  test('the stack has no unacknowledged finding', () => {
    expect(findings).toEqual([]);
    expect(error).toBeUndefined();
  });

  test('the same check fails a stack with an unacknowledged finding', () => {
    const bad = nagFindings((app) => {
      const s = new Stack(app, 'Bad');
      new iam.Role(s, 'Role', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AdministratorAccess')],
      });
      return s;
    });
    expect(bad.findings.join('\n')).toMatch(/IAM4/);
    expect(bad.error).toBeDefined();
  });

  test('every suppression names its rule and gives a reason', () => {
    const suppressions = nagSuppressions(stack);
    expect(suppressions.length).toBeGreaterThan(0);
    for (const { ids, reason } of suppressions) {
      expect(ids.length).toBeGreaterThan(0);
      for (const id of ids) expect(id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length).toBeGreaterThan(40);
    }
  });

  test('only what aws-eks-v2 creates or EKS Auto Mode requires is suppressed, and the teardown check\'s Describe calls', () => {
    for (const { path, ids } of nagSuppressions(stack)) {
      if (path === 'TeardownCheck/Role/DefaultPolicy') expect(ids).toEqual(['AwsSolutions-IAM5[Resource::*]']);
      else expect(path).toMatch(/^Cluster\/(Cluster\/(Role|KubectlProvider\/.+)|NodeRole)$/);
    }
  });
});

// cdk-nag 3.0.2's EKS1 and EKS2 match aws-eks's CfnCluster class, and aws-eks-v2 has its own, so
// they never fire here; their intent is checked on the template instead.
describe('EKS control plane, as AwsSolutions-EKS1/EKS2 mean it', () => {
  const app = new App({ context: { apiAllowedCidrs: '198.51.100.0/24', orderStoreImage: 'x/s:1', orderGeneratorImage: 'x/g:1' } });
  const stack = new OrdersStack(app, 'OrdersStack', { settings: readSettings((key) => app.node.tryGetContext(key), {}), deployingPrincipalArn: DEPLOYER_ARN });
  const template = Template.fromStack(stack);

  test('EKS2: every control-plane log type is on', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      Logging: { ClusterLogging: { EnabledTypes: ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'].map((Type) => ({ Type })) } },
    });
  });

  test('EKS1: the public endpoint (kubectl from a laptop) admits only apiAllowedCidrs', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      ResourcesVpcConfig: { EndpointPublicAccess: true, EndpointPrivateAccess: true, PublicAccessCidrs: ['198.51.100.0/24'] },
    });
  });
});
