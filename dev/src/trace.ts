/**
 * `npm run trace -- <orderId>`: that order's trace from the Jaeger `npm start` runs, as a span tree
 * with durations. The terminal stands in for Jaeger's UI, whose assets the Go module does not carry
 * (dev/dapr-binaries.sh). JAEGER_URL points it at another Jaeger.
 */
import { topology } from '@orders/common';
import { renderTrace, tracesOfOrder } from './traces';

async function main(): Promise<void> {
  const [orderId] = process.argv.slice(2);
  if (!orderId) {
    process.stderr.write('usage: npm run trace -- <orderId>   (the orderId a POST /neworder answered, or one from the apps\' log lines)\n');
    process.exit(2);
  }
  const queryUrl = process.env.JAEGER_URL ?? `http://127.0.0.1:${topology.tracing.jaegerQueryPort}`;
  const traces = await tracesOfOrder(queryUrl, orderId, [topology.orderGenerator.appId, topology.orderStore.appId]).catch((error: unknown) => {
    process.stderr.write(`cannot read traces from ${queryUrl} (is \`npm start\` running?): ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
  if (traces.length === 0) {
    process.stderr.write(`no trace of order ${orderId} in ${queryUrl} (yet: spans arrive within a second)\n`);
    process.exit(1);
  }
  for (const trace of traces) process.stdout.write(`${renderTrace(trace)}\n`);
}

void main();
