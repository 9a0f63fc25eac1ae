import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCommand } from '../harness/cli';
import { startSidecar, storeAppId } from '../harness/daprd';
import { startRedis } from '../../dev/src/redis';
import { median } from './compare';
import type { ProtocolRun } from './sdk-protocol-client';

const run = promisify(execFile);

/**
 * Which of the Dapr JS SDK's protocols costs an app less for order-store's write:
 * `node --import=tsx bench/sdk-protocols.ts [saves] [rounds]`. Each protocol runs in a process of
 * its own (bench/sdk-protocol-client.ts), alternating, against one daprd and Redis: the
 * insert-only save of one order, 8 at a time. HTTP goes through DaprSidecar (the SDK's HTTP
 * client); gRPC through `new DaprClient({ communicationProtocol: GRPC })`, as the Dapr docs write it.
 */
async function main([saves = '5000', rounds = '3']: string[]): Promise<void> {
  const redis = await startRedis();
  const daprd = await startSidecar({ appId: storeAppId, env: { ORDERS_REDIS_HOST: redis.address } });
  try {
    const runs: ProtocolRun[] = [];
    for (let r = 0; r < Number(rounds); r += 1) {
      for (const protocol of r % 2 === 0 ? ['http', 'grpc'] : ['grpc', 'http']) {
        const args = ['--import=tsx', join(__dirname, 'sdk-protocol-client.ts'), protocol, String(daprd.httpPort), String(daprd.grpcPort), saves];
        const { stdout } = await run(process.execPath, args, { timeout: 300_000 });
        const result = JSON.parse(stdout) as ProtocolRun;
        runs.push(result);
        process.stderr.write(`round ${r + 1} ${protocol}: ${result.cpuUsPerCall} µs CPU per save, ${result.callsPerSec} saves/s, ${result.rssMb} MB RSS\n`);
      }
    }
    process.stdout.write('| protocol | client CPU µs per save | saves/s | RSS MB at the end |\n| --- | ---: | ---: | ---: |\n');
    for (const protocol of ['http', 'grpc']) {
      const mine = runs.filter((x) => x.protocol === protocol);
      process.stdout.write(`| ${protocol} | ${median(mine.map((x) => x.cpuUsPerCall))} | ${median(mine.map((x) => x.callsPerSec))} | ${median(mine.map((x) => x.rssMb))} |\n`);
    }
  } finally {
    await daprd.stop();
    await redis.stop();
  }
}

runCommand('sdk-protocols', (argv) => argv, main);
