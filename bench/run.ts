import { stopAll } from '../harness/processes';
import { runBench } from './bench';
import { UsageRequest, parseOptions } from './options';
import { renderMarkdown, writeResults } from './report';

/** `npm run bench`: measures, prints the table, writes latest.json, latest.md and latest.svg. */
async function main(): Promise<void> {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof UsageRequest ? 0 : 2);
  }
  const interrupted = (signal: string) => {
    process.stderr.write(`${signal}: stopping every process the bench started\n`);
    void stopAll(3_000).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => interrupted('SIGINT'));
  process.on('SIGTERM', () => interrupted('SIGTERM'));

  const results = await runBench(options);
  const files = writeResults(results, options.outDir);
  process.stdout.write(`${renderMarkdown(results)}\n`);
  process.stdout.write(`wrote ${files.json}, ${files.markdown} and ${files.chart}\n`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  await stopAll(3_000);
  process.exit(1);
});
