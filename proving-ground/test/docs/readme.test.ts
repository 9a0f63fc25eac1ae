import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(__dirname, '../../..');
// Every Markdown file git tracks, the READMEs and the bench's result pages alike.
const markdown = execFileSync('git', ['ls-files', '*.md'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);

test.each(markdown)('every relative link of %s names a file or folder that exists', (file) => {
  const text = readFileSync(join(root, file), 'utf8');
  const targets = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1] as string).filter((t) => !/^[a-z]+:/.test(t));
  expect(targets.filter((target) => !existsSync(join(root, dirname(file), target)))).toEqual([]);
});

test('README.md links to the files it names', () => {
  expect(markdown).toContain('README.md');
  expect([...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/\]\((?![a-z]+:)/g)].length).toBeGreaterThan(10);
});
