import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppBuild, type AppProcess, startOrderGenerator, startOrderStore } from '../harness/apps';
import { type Sidecar, generatorAppId, startSidecar, storeAppId } from '../harness/daprd';
import { freePort } from '../harness/processes';
import { type RedisServer, startRedis } from '../harness/redis';
import { type Sentry, startSentry } from '../harness/sentry';
import { type DelayProxy, startDelayProxy } from './delay-proxy';
import { LogCapture } from '../harness/log-capture';

export interface ChaosSystemOptions {
  build: AppBuild;
  /** Put a DelayProxy between order-store's sidecar and order-store. */
  slowable: boolean;
  /** Write every process's output under this directory, as `<prefix>-<process>.log`. */
  logsDir?: string;
  logPrefix: string;
}

type Side = 'store' | 'generator';

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
  storeSidecar!: Sidecar;
  generatorSidecar!: Sidecar;
  store!: AppProcess;
  proxy: DelayProxy | undefined;
  generator: AppProcess | undefined;
  readonly storeLog: LogCapture;
  private storePort = 0;
  private sentryDir = '';
  private nameResolution = '';
  private proxyPort = 0;
  private readonly tempDirs: string[] = [];

  private constructor(private readonly options: ChaosSystemOptions) {
    this.storeLog = this.capture('order-store');
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
    this.storePort = await freePort();
    if (this.options.slowable) this.proxyPort = await freePort();
    const [storeSidecar, generatorSidecar] = await Promise.all([this.startSidecar('store'), this.startSidecar('generator')]);
    this.storeSidecar = storeSidecar;
    this.generatorSidecar = generatorSidecar;
    await this.startStore();
    // Only once the app listens: daprd holds its app channel until the app port accepts, and a
    // proxy listening early let it call a store that was not there yet, which opened the
    // generator-side circuit breaker before the first order (10s lost at the start of a run).
    if (this.proxyPort) this.proxy = await startDelayProxy({ targetPort: this.storePort, port: this.proxyPort });
  }

  private tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.tempDirs.push(dir);
    return dir;
  }

  private startSidecar(side: Side, ports?: Sidecar): Promise<Sidecar> {
    const appId = side === 'store' ? storeAppId : generatorAppId;
    return startSidecar({
      appId,
      ...(side === 'store' ? { appPort: this.proxyPort || this.storePort } : {}),
      sentry: this.sentry,
      nameResolution: this.nameResolution,
      env: { ORDERS_REDIS_HOST: this.redis.address },
      echo: this.capture(`daprd-${side}`),
      ...(ports
        ? { ports: { httpPort: ports.httpPort, grpcPort: ports.grpcPort, internalGrpcPort: ports.internalGrpcPort, metricsPort: ports.metricsPort } }
        : {}),
    });
  }

  private async startStore(): Promise<void> {
    this.store = await startOrderStore({
      daprHttpPort: this.storeSidecar.httpPort,
      port: this.storePort,
      env: { LOG_LEVEL: 'info' },
      build: this.options.build,
      echo: this.storeLog,
    });
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

  async killStore(): Promise<void> {
    await this.store.proc.kill();
  }

  async restartStore(): Promise<void> {
    await this.startStore();
  }

  async killSidecar(side: Side): Promise<void> {
    await (side === 'store' ? this.storeSidecar : this.generatorSidecar).kill();
  }

  async restartSidecar(side: Side): Promise<void> {
    if (side === 'store') this.storeSidecar = await this.startSidecar('store', this.storeSidecar);
    else this.generatorSidecar = await this.startSidecar('generator', this.generatorSidecar);
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
      this.store,
      this.generatorSidecar,
      this.storeSidecar,
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
