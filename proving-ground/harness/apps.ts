import { join } from 'node:path';
import { repoRoot } from './daprd';
import { dockerfileOf, imageStart } from './image';
import { type Proc, answers, freePort, startProcess, awaitReady } from '../../dev/src/processes';

/**
 * How an app is started: from its TypeScript sources (what `npm start` does), or from its
 * production build exactly as its container image starts it (`node dist/bundle.js` in its folder, with its ENV).
 */
export type AppBuild = 'source' | 'dist';

export interface AppProcess {
  port: number;
  url: string;
  proc: Proc;
  stop(): Promise<number | null>;
}

export interface AppOptions {
  daprHttpPort: number;
  port?: number;
  env?: NodeJS.ProcessEnv;
  build?: AppBuild;
  /** The checkout to run the app from: this one by default, another commit's for a paired bench. */
  root?: string;
  echo?: NodeJS.WritableStream;
}

/** Node's arguments and environment: for 'dist', the image's own CMD and ENV, so that its flags are measured too. */
export function appCommand(app: 'order-store' | 'order-generator', build: AppBuild, root = repoRoot): { cwd: string; args: string[]; env: Record<string, string> } {
  const cwd = join(root, 'apps', app);
  if (build === 'source') return { cwd, args: ['--conditions=development', '--import=tsx', 'src/main.ts'], env: {} };
  const { cmd, env } = imageStart(app, root);
  const [command, ...args] = cmd;
  if (command !== 'node') throw new Error(`${dockerfileOf(app, root).name}: CMD must start node, not ${command}`);
  return { cwd, args, env };
}

async function startApp(app: 'order-store' | 'order-generator', options: AppOptions): Promise<AppProcess> {
  const port = options.port ?? (await freePort());
  const { cwd, args, env: imageEnv } = appCommand(app, options.build ?? 'source', options.root);
  const env = { ...process.env, ...imageEnv, LOG_LEVEL: 'warn', ...options.env, PORT: String(port), DAPR_HTTP_PORT: String(options.daprHttpPort) };
  const proc = startProcess(app, process.execPath, args, { cwd, env, echo: options.echo });
  const url = `http://127.0.0.1:${port}`;
  await awaitReady(proc, `${app} /healthz`, () => answers(`${url}/healthz`));
  return { port, url, proc, stop: () => proc.stop(15_000) };
}

export const startOrderStore = (options: AppOptions) => startApp('order-store', options);
export const startOrderGenerator = (options: AppOptions) => startApp('order-generator', options);
