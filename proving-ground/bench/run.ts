import { runCommand } from '../harness/cli';
import { runBench } from '../bench/bench';
import { renderComparison, runComparison, writeComparison } from '../bench/compare';
import { type BenchOptions, parseOptions } from './options';
import { renderMarkdown, writeResults } from './report';

/**
 * `npm run bench`: measures, prints the table, writes latest.json, latest.md and latest.svg.
 * With `--baseline <ref>`: compares this checkout's apps with that commit's, writes compare.json and compare.md.
 */
async function main(options: BenchOptions): Promise<void> {
  if (options.baseline || options.tracing) {
    const results = await runComparison(options);
    const files = writeComparison(results, options.outDir);
    process.stdout.write(`${renderComparison(results)}\n`);
    process.stdout.write(`wrote ${files.json} and ${files.markdown}\n`);
    return;
  }
  const results = await runBench(options);
  const files = writeResults(results, options.outDir);
  process.stdout.write(`${renderMarkdown(results)}\n`);
  process.stdout.write(`wrote ${files.json}, ${files.markdown} and ${files.chart}\n`);
}

runCommand('bench', parseOptions, main);
