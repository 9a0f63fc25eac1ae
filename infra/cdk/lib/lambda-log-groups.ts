import { AspectPriority, Aspects, CfnResource, type IAspect, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IConstruct } from 'constructs';

/**
 * Gives every Lambda function in the stack a log group the stack owns. Left alone, Lambda creates
 * `/aws/lambda/<function>` on first run, outside CloudFormation, and `cdk destroy` leaves it
 * behind. aws-cdk-lib adds such functions itself (the kubectl handler and custom-resource
 * providers of aws-eks-v2, the VPC's default-security-group handler), some as plain CfnResources,
 * so they are found in the finished tree rather than configured one by one.
 */
class OwnedLambdaLogGroups implements IAspect {
  constructor(private readonly retention: logs.RetentionDays) {}

  visit(node: IConstruct): void {
    if (!(node instanceof CfnResource) || node.cfnResourceType !== 'AWS::Lambda::Function' || !node.node.scope) return;
    if (node instanceof lambda.CfnFunction && hasLogGroup(node.loggingConfig)) return;
    const logGroup = new logs.LogGroup(node.node.scope, `${node.node.id}LogGroup`, {
      retention: this.retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Merged into any logging settings the function has (level, format). Lambda's basic execution
    // policy, which these functions' roles carry, may write to any log group.
    node.addPropertyOverride('LoggingConfig.LogGroup', logGroup.logGroupName);
  }
}

function hasLogGroup(config: lambda.CfnFunction['loggingConfig']): boolean {
  return typeof config === 'object' && config !== null && 'logGroup' in config && config.logGroup !== undefined;
}

export function ownLambdaLogGroups(stack: Stack, retention: logs.RetentionDays): void {
  Aspects.of(stack).add(new OwnedLambdaLogGroups(retention), { priority: AspectPriority.MUTATING });
}
