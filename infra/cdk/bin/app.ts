#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { deployingPrincipalArn } from '../lib/deploying-identity';
import { OrdersStack } from '../lib/orders-stack';
import { readSettings } from '../lib/settings';

const app = new App();
const settings = readSettings((key) => app.node.tryGetContext(key));

new OrdersStack(app, 'OrdersStack', {
  description: 'Dapr orders reference system on Amazon EKS (Auto Mode) with ElastiCache Serverless',
  // With credentials, the account and region of the CLI profile (or -c region=...); without,
  // an environment-agnostic stack, so `cdk synth` works offline.
  env: {
    ...(process.env.CDK_DEFAULT_ACCOUNT ? { account: process.env.CDK_DEFAULT_ACCOUNT } : {}),
    ...(settings.region ? { region: settings.region } : {}),
  },
  settings,
  // The admin role's principal when adminPrincipalArns names none: whoever deploys.
  ...(settings.adminPrincipalArns.length === 0 ? optionalArn(deployingPrincipalArn()) : {}),
});

function optionalArn(arn: string | undefined): { deployingPrincipalArn?: string } {
  return arn ? { deployingPrincipalArn: arn } : {};
}

// Every AwsSolutions finding fails the synth unless suppressed with its rule id and a reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
