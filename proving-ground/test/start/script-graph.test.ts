import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/daprd';

// Which shell scripts each npm script runs, followed through every `bash x.sh` and `source x.sh`:
// only `npm test` may reach the Kubernetes bootstrap or an OS package manager.

const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The scripts a command line runs, and the scripts those run, as paths from the repository root. */
function reachable(commandLine: string, seen = new Set<string>()): Set<string> {
  for (const match of commandLine.matchAll(/(?:bash|source)\s+"?(?:\$root\/)?([\w./-]+\.sh)"?/g)) {
    const script = match[1]!;
    if (seen.has(script)) continue;
    seen.add(script);
    reachable(readFileSync(join(repoRoot, script), 'utf8'), seen);
  }
  return seen;
}

/** A script with apt-get on a line that is not a comment. */
const runsApt = (script: string) => readFileSync(join(repoRoot, script), 'utf8').split('\n').some((line) => !/^\s*#/.test(line) && /\bapt-get\b/.test(line));

test.each(['start', 'trace', 'bench', 'chaos'])('npm run %s reaches no Kubernetes bootstrap and no OS package manager', (name) => {
  const graph = [...reachable(scripts[name]!)];
  expect(graph).not.toContain('proving-ground/bootstrap-kube.sh');
  if (name === 'start' || name === 'trace') expect(graph.filter(runsApt)).toEqual([]);
});

test('npm start runs the Dapr bootstrap, npm test the Kubernetes one too', () => {
  expect([...reachable(scripts.start!)]).toEqual(expect.arrayContaining(['dev/start.sh', 'dev/bootstrap.sh', 'dev/dapr-binaries.sh', 'dev/go-build.sh']));
  expect([...reachable(scripts.test!)]).toEqual(expect.arrayContaining(['proving-ground/bootstrap.sh', 'proving-ground/bootstrap-kube.sh']));
});
