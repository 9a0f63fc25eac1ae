import type { AppBuild } from './apps';
import { stopAll } from '../../dev/src/processes';

/** One option of a harness command (bench, chaos): a CLI flag and the environment variable that sets the same. */
export interface CliOption<T> {
  flag: string;
  env: string;
  /** A switch (`--no-compile`) takes no value on the command line; it is applied as 'true'. */
  isSwitch?: boolean;
  apply(options: T, value: string): void;
}

/** `--help`: not an error, the usage text is the answer. */
export class UsageRequest extends Error {
  constructor(usage: string) {
    super(usage);
    this.name = 'UsageRequest';
  }
}

/** Defaults, then environment variables, then flags (`--name value` or `--name=value`). */
export function parseCli<T>(argv: string[], env: NodeJS.ProcessEnv, defaults: T, fields: CliOption<T>[], usage: () => string): T {
  const options = structuredClone(defaults);
  for (const field of fields) {
    const value = env[field.env];
    if (value !== undefined && value !== '') field.apply(options, value);
  }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new UsageRequest(usage());
    const eq = arg.indexOf('=');
    const [flag, inline] = eq >= 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const field = fields.find((f) => f.flag === flag);
    if (!field) throw new Error(`unknown option ${arg}\n${usage()}`);
    const value = field.isSwitch ? (inline ?? 'true') : (inline ?? argv[++i]);
    if (value === undefined) throw new Error(`${flag} needs a value`);
    field.apply(options, value);
  }
  return options;
}

export function numberIn(name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new Error(`${name}: expected a number from ${min} to ${max}, got "${value}"`);
  }
  return parsed;
}

export function numberList(name: string, value: string, min: number): number[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => numberIn(name, part, min));
}

export function appBuild(value: string): AppBuild {
  if (value !== 'dist' && value !== 'source') throw new Error(`build: expected dist or source, got "${value}"`);
  return value;
}

/**
 * Runs a harness command: parses its options (exit 2 on a bad one, 0 for --help), and on Ctrl-C,
 * SIGTERM or a failure stops every process it started before exiting.
 */
export function runCommand<T>(name: string, parse: (argv: string[]) => T, body: (options: T) => Promise<void>): void {
  let options: T;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof UsageRequest ? 0 : 2);
  }
  const interrupted = (signal: string) => {
    process.stderr.write(`${signal}: stopping every process the ${name} run started\n`);
    void stopAll(3_000).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => interrupted('SIGINT'));
  process.on('SIGTERM', () => interrupted('SIGTERM'));
  body(options).catch(async (error: unknown) => {
    process.stderr.write(`${name} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    await stopAll(3_000);
    process.exit(1);
  });
}
