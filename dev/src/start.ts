/**
 * The local system in the foreground: Redis on 6379 (the one already running, or one started
 * here), Sentry on 50001 (where the Dapr CLI points sidecars when mTLS is on), Jaeger (OTLP on
 * 4318 from both sidecars and both apps, its query API on 16686: `npm run trace -- <orderId>`),
 * then `dapr run -f .`. Ctrl-C stops everything this started, and only that.
 *
 * With ORDER_STORE_REPLICAS=n (n > 1), order-store runs as n apps with a sidecar each under its
 * one app id, as on Kubernetes, from a run file written to .run/; a round-robin proxy on
 * order-store's port stands in for the load balancer.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { exitOnSettingsError, parseSettings, setting, topology } from '@orders/common';
import { daprBinary, daprRuntimePath } from './dapr-binaries';
import { startJaeger } from './jaeger';
import { answers } from './processes';
import { localRedisPort, ping, startRedis } from './redis';
import { startRoundRobinProxy } from './round-robin-proxy';
import { replicatedRunFile } from './run-file';
import { localSentryPort, startSentry } from './sentry';

const repoRoot = join(__dirname, '..', '..');

const settings = (() => {
  try {
    return parseSettings({ ORDER_STORE_REPLICAS: setting.integer(1, 1, 9) }, process.env);
  } catch (error) {
    return exitOnSettingsError(error);
  }
})();

function say(message: string): void {
  process.stdout.write(`[start] ${message}\n`);
}

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<void>> = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };

  if (await ping(localRedisPort)) {
    say(`using the Redis already answering on 127.0.0.1:${localRedisPort}`);
  } else {
    say(`starting Redis on 127.0.0.1:${localRedisPort}`);
    const redis = await startRedis({ port: localRedisPort, appendOnly: true, dir: join(repoRoot, '.run') });
    cleanups.push(() => redis.stop());
  }

  const { otlpHttpPort, jaegerQueryPort } = topology.tracing;
  const jaegerUrl = `http://127.0.0.1:${jaegerQueryPort}`;
  if (await answers(`${jaegerUrl}/api/services`).catch(() => false)) {
    say(`using the Jaeger already answering on ${jaegerUrl}`);
  } else {
    say(`starting Jaeger: OTLP on 127.0.0.1:${otlpHttpPort}, traces at ${jaegerUrl}`);
    const jaeger = await startJaeger({ otlpHttpPort, queryPort: jaegerQueryPort }).catch(async (error: unknown) => {
      await cleanUp();
      throw error;
    });
    cleanups.push(() => jaeger.stop());
  }

  say(`starting Sentry on 127.0.0.1:${localSentryPort} (certificates in .run/sentry)`);
  const sentry = await startSentry({ dir: join(repoRoot, '.run', 'sentry'), port: localSentryPort }).catch(async (error: unknown) => {
    await cleanUp();
    throw error;
  });
  cleanups.push(() => sentry.stop());

  const replicas = settings.ORDER_STORE_REPLICAS;
  let runFile = '.';
  if (replicas > 1) {
    const replicated = replicatedRunFile(join(repoRoot, 'dapr.yaml'), replicas, join(repoRoot, '.run', 'replicas'));
    runFile = replicated.path;
    const balancer = await startRoundRobinProxy(topology.orderStore.port, replicated.storePorts).catch(async (error: unknown) => {
      await cleanUp();
      throw error;
    });
    cleanups.push(() => balancer.close());
    say(`order-store: ${replicas} replicas on ports ${replicated.storePorts.join(', ')}, each with its own sidecar; 127.0.0.1:${balancer.port} spreads connections over them`);
  }

  say(`starting both apps with their sidecars: dapr run -f ${runFile === '.' ? '.' : runFile.slice(repoRoot.length + 1)}`);
  const dapr = spawn(daprBinary('dapr'), ['run', '-f', runFile], {
    cwd: repoRoot,
    stdio: 'inherit',
    // Sidecars register and call each other on loopback only. DAPR_RUNTIME_PATH is where the CLI
    // finds daprd for a run file (dapr-binaries.ts).
    env: { ...process.env, DAPR_RUNTIME_PATH: daprRuntimePath, DAPR_TRUST_ANCHORS: sentry.trustAnchors, NAMESPACE: 'default', DAPR_HOST_IP: '127.0.0.1' },
  });
  say('try: curl -i -X POST localhost:3000/neworder -H "content-type: application/json" -d \'{"data":{"orderId":"42"}}\'');
  say('     curl localhost:3000/order');
  say('     npm run trace -- 42                (that order\'s trace: both apps, both sidecars)');
  say(`     curl localhost:3000/metrics        (Prometheus metrics, on the app port here, METRICS_PORT on EKS; the sidecars' on 9091 and 9092; Ctrl-C stops everything)`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    dapr.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await new Promise<number>((resolve) => dapr.on('exit', (exitCode) => resolve(exitCode ?? 0)));
  await cleanUp();
  say('stopped');
  process.exit(stopping ? 0 : code);
}

main().catch((error: unknown) => {
  process.stderr.write(`[start] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
