import { expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synth } from './helpers';

// cfn-lint, the CloudFormation linter AWS maintains (https://github.com/aws-cloudformation/cfn-lint),
// checks each template the tests synthesize against the resource schemas CloudFormation itself uses.
// proving-ground/test.sh (npm test) installs it when it is missing.

/** Every template variant the tests synthesize, with prebuilt images so that none builds Docker assets. */
const images = { orderStoreImage: 'example/store:1', orderGeneratorImage: 'example/gen:1' };
const VARIANTS: Record<string, Record<string, string>> = {
  default: images,
  daprHa: { ...images, daprHa: 'true' },
  'writeToken=false': { ...images, writeToken: 'false' },
  certificate: { ...images, certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b', domainName: 'orders.example.com' },
};

/** The findings accepted, each with its reason; anything else fails. */
const ACCEPTED: { rule: string; path: RegExp; reason: string }[] = [
  {
    rule: 'E3002',
    path: /^Resources\/Cache\w+\/Properties\/ConnectionType$/,
    reason: "ServerlessCache ConnectionType is newer than cfn-lint's schema; the ElastiCache API takes vpc or public (cache.ts)",
  },
  {
    rule: 'W3005',
    path: /^Resources\/\w+\/DependsOn\/\d+$/,
    reason: 'a construct-wide addDependency (the delete order of orders-stack.ts) also lists resources a Ref already orders; CloudFormation accepts the repeat',
  },
];

interface Finding {
  Filename: string;
  Level: string;
  Message: string;
  Rule: { Id: string };
  Location: { Path: (string | number)[] };
}

function cfnLint(args: string[]): { status: number | null; stdout: string; stderr: string; error?: Error } {
  const result = spawnSync('cfn-lint', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, ...(result.error ? { error: result.error } : {}) };
}

test('every template variant passes cfn-lint, but for findings accepted with a reason', () => {
  const version = cfnLint(['--version']);
  if (version.error || version.status !== 0) {
    throw new Error('cfn-lint is not installed: `npm test` installs it, or `pip install --user cfn-lint`');
  }
  const dir = mkdtempSync(join(tmpdir(), 'orders-cfn-lint-'));
  try {
    const files = Object.entries(VARIANTS).map(([name, context]) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(synth(context).template.toJSON()));
      return file;
    });
    // Exit status 0 is clean, 2 errors, 4 warnings, 8 informational (bit flags); 1 is cfn-lint's own failure.
    const run = cfnLint(['--format', 'json', ...files]);
    if (run.status === null || run.status === 1) throw new Error(`cfn-lint itself failed (status ${run.status}): ${run.stderr}`);
    const findings = JSON.parse(run.stdout) as Finding[];
    const unaccepted = findings
      .filter((finding) => !ACCEPTED.some(({ rule, path }) => rule === finding.Rule.Id && path.test(finding.Location.Path.join('/'))))
      .map((finding) => `${finding.Filename}: ${finding.Rule.Id} ${finding.Location.Path.join('/')}: ${finding.Message}`);
    expect(unaccepted).toEqual([]);
    // Each accepted rule still finds what it was accepted for: when cfn-lint's schema learns
    // ConnectionType, the E3002 entry goes.
    for (const { rule } of ACCEPTED) expect({ rule, found: findings.some((finding) => finding.Rule.Id === rule) }).toEqual({ rule, found: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
