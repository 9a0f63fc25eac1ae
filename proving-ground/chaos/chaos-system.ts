import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppBuild, type AppProcess, startOrderGenerator, startOrderStore } from '../harness/apps';
import { type Sidecar, generatorAppId, startSidecar, storeAppId } from '../harness/daprd';
import { freePort } from '../../dev/src/processes';
import { type RedisServer, startRedis } from '../../dev/src/redis';
import { type Sentry, startSentry } from '../../dev/src/sentry';
import { type DelayProxy, startDelayProxy } from './delay-proxy';
import { LogCapture, type LogLine } from '../harness/log-capture';

export interface ChaosSystemOptions {
  build: AppBuild;
  /** Put a DelayProxy between the first order-store replica's sidecar and its app. */
  slowable: boolean;
  /** order-store replicas, each with its own sidecar under the one app id. */
  storeReplicas: number;
  /** Write every process's output under this directory, as `<prefix>-<process>.log`. */
  logsDir?: string;
  logPrefix: string;
}

type Side = 'store' | 'generator';

/** One order-store replica: its app port (and the proxy's in front of it), its sidecar and app. */
interface ChaosStoreReplica {
  port: number;
  proxyPort: number;
  sidecar: Sidecar;
  app: AppProcess;
  log: LogCapture;
}

/**
 * The order path as startOrderSystem builds it (Redis with append-only persistence, Sentry, both
 * sidecars with mTLS, both apps), but with every part restartable in place: a part that is
 * killed comes back on the same ports, data directory and CA, as it would under a supervisor.
 * order-store's output is captured in full (LOG_LEVEL=info) to count the resends it deduplicated.
 * Restarted sidecars register again in the same name resolution file, on the same ports.
 */
export class ChaosSystem {
  redis!: RedisServer;
  sentry!: Sentry;
  generatorSidecar!: Sidecar;
  readonly stores: ChaosStoreReplica[] = [];
  proxy: DelayProxy | undefined;
  generator: AppProcess | undefined;
  private sentryDir = '';
  private nameResolution = '';
  private readonly tempDirs: string[] = [];

  private constructor(private readonly options: ChaosSystemOptions) {}

  get store(): AppProcess {
    return this.stores[0]!.app;
  }

  get storeSidecar(): Sidecar {
    return this.stores[0]!.sidecar;
  }

  /** Every order-store replica's log lines with this msg. */
  storeLines(msg: string): LogLine[] {
    return this.stores.flatMap((replica) => replica.log.withMsg(msg));
  }

  static async start(options: ChaosSystemOptions): Promise<ChaosSystem> {
    const system = new ChaosSystem(options);
    try {
      await system.startAll();
      return system;
    } catch (error) {
      await system.stop();
      throw error;
    }
  }

  /** A capture of one process's output, also written to the logs directory when there is one. */
  capture(processName: string): LogCapture {
    const { logsDir, logPrefix } = this.options;
    return new LogCapture(logsDir ? join(logsDir, `${logPrefix}-${processName}.log`) : undefined);
  }

  private async startAll(): Promise<void> {
    // A name resolution file per system, not the harness's one per process: a previous scenario's
    // stopped sidecars must not answer for this one's (with mDNS, a first run saw calls go to
    // `192.0.2.2:<a stopped sidecar's port>: connection refused`, which held the breaker open).
    this.nameResolution = join(this.tempDir('orders-chaos-names-'), 'names.db');
    const redisDir = this.tempDir('orders-chaos-redis-');
    this.redis = await startRedis({ appendOnly: true, dir: redisDir });
    this.sentryDir = this.tempDir('orders-chaos-sentry-');
    this.sentry = await startSentry({ dir: this.sentryDir, echo: this.capture('sentry') });
    this.generatorSidecar = await this.startSidecar('generator');
    for (let replica = 0; replica < this.options.storeReplicas; replica += 1) {
      const port = await freePort();
      const proxyPort = this.options.slowable && replica === 0 ? await freePort() : 0;
      const sidecar = await this.startSidecar('store', { appPort: proxyPort || port, name: this.replicaName('daprd-store', replica) });
      const log = this.capture(this.replicaName('order-store', replica));
      this.stores.push({ port, proxyPort, sidecar, app: await this.startStoreApp(port, sidecar, log), log });
      // Only once the app listens: daprd holds its app channel until the app port accepts, and a
      // proxy listening early let it call a store that was not there yet, which opened the
      // generator-side circuit breaker before the first order (10s lost at the start of a run).
      if (proxyPort) this.proxy = await startDelayProxy({ targetPort: port, port: proxyPort });
    }
  }

  /** `order-store`, `order-store-2`, ...: the first replica keeps the name a one-replica run has. */
  private replicaName(base: string, replica: number): string {
    return replica === 0 ? base : `${base}-${replica + 1}`;
  }

  private tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.tempDirs.push(dir);
    return dir;
  }

  private startSidecar(side: Side, store?: { appPort: number; name: string }, ports?: Sidecar): Promise<Sidecar> {
    const appId = side === 'store' ? storeAppId : generatorAppId;
    return startSidecar({
      appId,
      ...(store ? { appPort: store.appPort } : {}),
      sentry: this.sentry,
      nameResolution: this.nameResolution,
      env: { ORDERS_REDIS_HOST: this.redis.address },
      echo: this.capture(store?.name ?? `daprd-${side}`),
      ...(ports
        ? { ports: { httpPort: ports.httpPort, grpcPort: ports.grpcPort, internalGrpcPort: ports.internalGrpcPort, metricsPort: ports.metricsPort } }
        : {}),
    });
  }

  private startStoreApp(port: number, sidecar: Sidecar, log: LogCapture): Promise<AppProcess> {
    return startOrderStore({ daprHttpPort: sidecar.httpPort, port, env: { LOG_LEVEL: 'info' }, build: this.options.build, echo: log });
  }

  async startGenerator(env: NodeJS.ProcessEnv, capture: LogCapture): Promise<AppProcess> {
    this.generator = await startOrderGenerator({
      daprHttpPort: this.generatorSidecar.httpPort,
      env: { ...env, LOG_LEVEL: 'info' },
      build: this.options.build,
      echo: capture,
    });
    return this.generator;
  }

  // Each fault: a SIGKILL, and a restart in place that returns once the part answers again.

  async killRedis(): Promise<void> {
    await this.redis.proc.kill();
  }

  async restartRedis(): Promise<void> {
    this.redis = await startRedis({ appendOnly: true, dir: this.redis.dir, port: this.redis.port });
  }

  async killStore(replica = 0): Promise<void> {
    await this.stores[replica]!.app.proc.kill();
  }

  async restartStore(replica = 0): Promise<void> {
    const store = this.stores[replica]!;
    store.app = await this.startStoreApp(store.port, store.sidecar, store.log);
  }

  async killSidecar(side: Side): Promise<void> {
    await (side === 'store' ? this.storeSidecar : this.generatorSidecar).kill();
  }

  async restartSidecar(side: Side): Promise<void> {
    if (side === 'generator') {
      this.generatorSidecar = await this.startSidecar('generator', undefined, this.generatorSidecar);
      return;
    }
    const store = this.stores[0]!;
    store.sidecar = await this.startSidecar('store', { appPort: store.proxyPort || store.port, name: 'daprd-store' }, store.sidecar);
  }

  async killSentry(): Promise<void> {
    await this.sentry.proc.kill();
  }

  /** Same directory (so the same CA) and port: the sidecars' trust anchors still hold. */
  async restartSentry(): Promise<void> {
    const port = Number(this.sentry.address.split(':')[1]);
    this.sentry = await startSentry({ dir: this.sentryDir, port, echo: this.capture('sentry') });
  }

  /** Stops whatever is running, the generator first and Redis last, and removes the temp dirs. */
  async stop(): Promise<void> {
    const parts: Array<{ proc: { isRunning(): boolean; stop(graceMs?: number): Promise<unknown> } } | undefined> = [
      this.generator,
      ...this.stores.map((replica) => replica.app),
      this.generatorSidecar,
      ...this.stores.map((replica) => replica.sidecar),
      this.sentry,
      this.redis,
    ];
    for (const part of parts) {
      if (part?.proc.isRunning()) await part.proc.stop(10_000);
    }
    await this.proxy?.close();
    for (const dir of this.tempDirs) rmSync(dir, { recursive: true, force: true });
  }
}
