import { execFileSync } from 'node:child_process';

/**
 * The IAM principal ARN an STS caller ARN stands for, as a role trust policy can name it: a user
 * as it is; an assumed-role session as its role, whose full ARN (path included, as an IAM Identity
 * Center role's /aws-reserved/sso.amazonaws.com/... path is) `roleArnOf` looks up by name. The
 * account root is refused: trusting it is what this replaces.
 */
export function principalOfCaller(callerArn: string, roleArnOf: (roleName: string) => string): string {
  const user = /^arn:aws[a-z-]*:iam::\d{12}:user\/.+$/.exec(callerArn);
  if (user) return callerArn;
  const session = /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/([^/]+)\/.+$/.exec(callerArn);
  if (session?.[1]) return roleArnOf(session[1]);
  throw new Error(
    `the deploying identity ${callerArn} cannot be the admin role's principal (not an IAM user or role): set -c adminPrincipalArns=arn:aws:iam::<account>:role/<role>`,
  );
}

/**
 * The deploying identity, from the AWS CLI's current credentials (`aws sts get-caller-identity`,
 * then `aws iam get-role` for a role's path), or undefined without credentials.
 */
export function deployingPrincipalArn(): string | undefined {
  const aws = (...args: string[]) => execFileSync('aws', [...args, '--output', 'text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let caller: string;
  try {
    caller = aws('sts', 'get-caller-identity', '--query', 'Arn');
  } catch {
    return undefined;
  }
  return principalOfCaller(caller, (roleName) => aws('iam', 'get-role', '--role-name', roleName, '--query', 'Role.Arn'));
}
