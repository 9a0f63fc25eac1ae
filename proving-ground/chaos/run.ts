import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../harness/cli';
import { type ChaosOptions, parseOptions } from './options';
import { type ChaosResults, describeMachine, renderMarkdown, writeResults } from '../chaos/report';
import { type ScenarioResult, runScenario } from '../chaos/scenarios';

/** `npm run chaos`: every scenario in turn, then the table; writes latest.json and latest.md. Exits 1 if anything acknowledged was lost. */
async function main(options: ChaosOptions): Promise<void> {
  const logsDir = join(options.outDir, 'logs');
  rmSync(logsDir, { recursive: true, force: true });
  mkdirSync(logsDir, { recursive: true });
  const machine = describeMachine();
  const scenarios: ScenarioResult[] = [];
  for (const name of options.scenarios) {
    process.stderr.write(`[chaos] ${name}: starting\n`);
    const result = await runScenario(name, options, logsDir);
    scenarios.push(result);
    process.stderr.write(
      `[chaos] ${name}: generated ${result.generated}, acknowledged ${result.acknowledged}, stored ${result.stored}, lost ${result.lost}, duplicates ${result.duplicates}, recovery ${result.recoveryMs ?? 'none'} ms${result.evidence.problems.length ? `; ${result.evidence.problems.length} problem(s)` : ''}\n`,
    );
  }
  const results: ChaosResults = { generatedAt: new Date().toISOString(), machine, options, scenarios };
  const files = writeResults(results, options.outDir);
  process.stdout.write(`${renderMarkdown(results)}\n`);
  process.stdout.write(`wrote ${files.json} and ${files.markdown}; every process's log is in ${logsDir}\n`);
  const failed = scenarios.filter((r) => r.lost > 0 || r.duplicates > 0 || r.generatedNotStored > 0 || r.evidence.problems.length > 0);
  if (failed.length > 0) {
    process.stderr.write(`[chaos] not met in: ${failed.map((r) => r.scenario).join(', ')}\n`);
    process.exitCode = 1;
  }
}

runCommand('chaos', parseOptions, main);
