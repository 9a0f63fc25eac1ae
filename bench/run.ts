import { runCommand } from '../harness/cli';
import { runBench } from './bench';
import { type BenchOptions, parseOptions } from './options';
import { renderMarkdown, writeResults } from './report';

/** `npm run bench`: measures, prints the table, writes latest.json, latest.md and latest.svg. */
async function main(options: BenchOptions): Promise<void> {
  const results = await runBench(options);
  const files = writeResults(results, options.outDir);
  process.stdout.write(`${renderMarkdown(results)}\n`);
  process.stdout.write(`wrote ${files.json}, ${files.markdown} and ${files.chart}\n`);
}

runCommand('bench', parseOptions, main);
