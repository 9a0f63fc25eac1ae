import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

// A user reads README.md in ten minutes; measurement history and analysis live in the README of
// their folder (bench/, chaos/, infra/cdk/, test/kubernetes/).
test('README.md stays within 220 lines', () => {
  expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(220);
});

test('every relative link of README.md names a file or folder that exists', () => {
  const targets = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1] as string).filter((t) => !/^[a-z]+:/.test(t));
  expect(targets.length).toBeGreaterThan(10);
  expect(targets.filter((target) => !existsSync(join(root, target)))).toEqual([]);
});
