import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { daprBinary } from '../../dev/src/dapr-binaries';
import { repoRoot } from '../harness/daprd';
import type { ChaosOptions } from './options';
import type { ScenarioResult } from './scenarios';

export interface ChaosResults {
  generatedAt: string;
  machine: { cores: number; cpuModel: string; memoryGb: number; node: string; daprd: string; redis: string; gitCommit: string; loadAverageAtStart: number };
  options: ChaosOptions;
  scenarios: ScenarioResult[];
}

const quiet = (command: string, args: string[]): string => {
  try {
    return execFileSync(command, args, { encoding: 'utf8', cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
};

export function describeMachine(): ChaosResults['machine'] {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? '?',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    daprd: quiet(daprBinary('daprd'), ['--version']),
    redis: quiet('redis-server', ['--version']).split(' ').slice(0, 3).join(' '),
    gitCommit: quiet('git', ['rev-parse', '--short', 'HEAD']),
    loadAverageAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const seconds = (ms: number | null) => (ms === null ? 'none' : `${(ms / 1000).toFixed(1)} s`);

/** The Reliability table, then what each column means and the machine it was measured on. */
export function renderMarkdown(results: ChaosResults): string {
  const m = results.machine;
  const o = results.options;
  const lines = [
    row(['scenario', 'load', 'fault', 'generated', 'acknowledged', 'stored', 'lost', 'duplicates', 'recovery time', 'longest ack gap', 'retries', 'resends deduplicated', 'latest order moved back']),
    row(['---', '---:', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...results.scenarios.map((r) =>
      row([
        r.scenario,
        `${r.ordersPerSecond}/s`,
        r.fault,
        r.generated,
        r.acknowledged,
        r.stored,
        `**${r.lost}**`,
        r.duplicates,
        seconds(r.recoveryMs),
        seconds(r.longestAckGapMs),
        r.retries,
        r.dedupedResends,
        `**${r.latestWentBack}** of ${r.latestReads} reads`,
      ]),
    ),
    '',
    `Measured ${results.generatedAt} on ${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB; Node ${m.node}, daprd ${m.daprd}, ${m.redis}; commit ${m.gitCommit}; load average ${m.loadAverageAtStart} at start. ` +
      `Each scenario on a fresh system: ${o.warmupSec}s of steady load, the fault, ${o.recoverySec}s of load after the restart, then SIGTERM to order-generator, which delivers its backlog (up to ${o.drainSec}s) and exits; apps from ${o.build}.`,
  ];
  const amiss = results.scenarios.filter((r) => r.evidence.problems.length > 0 || r.generatedNotStored > 0 || r.unconfirmedAtShutdown > 0);
  for (const r of amiss) {
    lines.push('', `**${r.scenario}**: ${r.generatedNotStored} generated orders not stored, ${r.unconfirmedAtShutdown} unconfirmed at shutdown.`);
    for (const problem of r.evidence.problems.slice(0, 5)) lines.push(`- ${problem.split('\n')[0]}`);
  }
  return lines.join('\n');
}

export function writeResults(results: ChaosResults, outDir: string): { json: string; markdown: string } {
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, 'latest.json');
  const markdown = join(outDir, 'latest.md');
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(markdown, `${renderMarkdown(results)}\n`);
  return { json, markdown };
}
