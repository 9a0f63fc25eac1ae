import { CommunicationProtocolEnum, DaprClient, LogLevel, StateConcurrencyEnum, StateConsistencyEnum } from '@dapr/dapr';
import { DaprSidecar, topology } from '@orders/common';

/**
 * One run of bench/sdk-protocols.ts: `node --import=tsx bench/sdk-protocol-client.ts <http|grpc>
 * <daprd HTTP port> <daprd gRPC port> <saves>`. It imports nothing else, so that its RSS is the
 * SDK's and Node's (and tsx's, the same for both; both load the SDK's whole index, as DaprSidecar
 * does since issue 23); it prints one line of JSON.
 */
export interface ProtocolRun {
  protocol: 'http' | 'grpc';
  /** This process's own CPU (user + system) per save, in microseconds. */
  cpuUsPerCall: number;
  callsPerSec: number;
  rssMb: number;
}

const CONCURRENCY = 8;

/** What order-store writes for one order: the order under its own key, insert-only. */
const order = (key: string) => ({ orderId: key, customer: 'customer-42', items: [{ sku: 'oat-milk-1l', quantity: 1, unitPrice: 2.35 }], total: 2.35, acceptedAt: new Date().toISOString() });

async function saver(protocol: ProtocolRun['protocol'], httpPort: number, grpcPort: number): Promise<{ save: (key: string) => Promise<void>; stop: () => Promise<void> }> {
  if (protocol === 'http') {
    const sidecar = new DaprSidecar({ host: '127.0.0.1', httpPort });
    return {
      save: (key) => sidecar.saveState(topology.stateStore, [{ key, value: order(key), etag: '-1', options: { concurrency: 'first-write', consistency: 'strong' } }]),
      stop: async () => sidecar.close(),
    };
  }
  const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(grpcPort), communicationProtocol: CommunicationProtocolEnum.GRPC, logger: { level: LogLevel.Error } });
  const options = { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, consistency: StateConsistencyEnum.CONSISTENCY_STRONG };
  return {
    save: async (key) => {
      await client.state.save(topology.stateStore, [{ key, value: order(key), etag: '-1', options }]);
    },
    stop: () => client.stop(),
  };
}

async function main(): Promise<void> {
  const [protocol, httpPort, grpcPort, calls] = process.argv.slice(2);
  if (protocol !== 'http' && protocol !== 'grpc') throw new Error('usage: sdk-protocol-client.ts <http|grpc> <http port> <grpc port> <saves>');
  const { save, stop } = await saver(protocol, Number(httpPort), Number(grpcPort));
  const drive = async (count: number, tag: string) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < count) await save(`order:${protocol}-${process.pid}-${tag}-${next++}`);
      }),
    );
  };
  await drive(500, 'warm');
  const cpu = process.cpuUsage();
  const started = performance.now();
  await drive(Number(calls), 'run');
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const run: ProtocolRun = {
    protocol,
    cpuUsPerCall: Math.round(((used.user + used.system) / Number(calls)) * 10) / 10,
    callsPerSec: Math.round(Number(calls) / seconds),
    rssMb: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
  };
  await stop();
  process.stdout.write(`${JSON.stringify(run)}\n`);
  process.exit(0);
}

void main();
