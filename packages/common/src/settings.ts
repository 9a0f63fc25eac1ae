import { z } from 'zod';

/** Thrown when environment variables do not parse; the message names every bad variable. */
export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  ${problems.join('\n  ')}`);
    this.name = 'SettingsError';
  }
}

/**
 * Parses environment variables against a zod object whose keys are the variable names.
 * Every variable has a default in its schema, so an empty environment is a valid one.
 */
export function parseSettings<Shape extends z.ZodRawShape>(
  shape: Shape,
  env: NodeJS.ProcessEnv,
): z.infer<z.ZodObject<Shape>> {
  const schema = z.object(shape);
  const present = Object.fromEntries(
    Object.keys(shape).flatMap((name) => {
      const value = env[name];
      return value === undefined || value === '' ? [] : [[name, value]];
    }),
  );
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new SettingsError(
    result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(present[name])}: ${issue.message}`;
    }),
  );
}

/** Building blocks for settings schemas; each accepts the string form an env var has. */
export const setting = {
  port: (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback),
  /** A port with no default: unset, whatever it is for is off or shares another port. */
  optionalPort: () => z.coerce.number().int().min(1).max(65535).optional(),
  integer: (fallback: number, min: number, max: number) =>
    z.coerce.number().int().min(min).max(max).default(fallback),
  number: (fallback: number, min: number, max: number) =>
    z.coerce.number().min(min).max(max).default(fallback),
  /** A Dapr app id or component name: a lowercase DNS label, as Kubernetes requires. */
  daprName: (fallback: string) =>
    z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a lowercase DNS label, e.g. order-store')
      .default(fallback),
  host: (fallback: string) =>
    z
      .string()
      .regex(/^[A-Za-z0-9.:[\]-]+$/, 'expected a host name or IP address')
      .default(fallback),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  boolean: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'], { message: 'expected true or false' })
      .transform((value) => value === 'true' || value === '1')
      .default(fallback),
};

/**
 * Where the app's own Dapr sidecar listens. The names are the ones Dapr's sidecar injector sets in
 * the app container (DAPR_HTTP_PORT, and DAPR_API_TOKEN when the pod asks for an API token).
 */
export const sidecarSettings = {
  DAPR_HOST: setting.host('127.0.0.1'),
  DAPR_HTTP_PORT: setting.port(3500),
  // Sent as an HTTP header, so a character a header cannot carry would fail every call.
  DAPR_API_TOKEN: z.string().regex(/^[!-~]+$/, 'expected printable ASCII without spaces').optional(),
};

/**
 * Where the app serves GET /metrics. Unset, on its own port (PORT), as `npm start` runs it; set, on
 * this port only, so that a load balancer in front of PORT does not publish them (deploy/ sets it).
 */
export const metricsSettings = {
  METRICS_PORT: setting.optionalPort(),
};

/** Logs the settings problem the way an operator reads it and exits; for use in main(). */
export function exitOnSettingsError(error: unknown): never {
  if (error instanceof SettingsError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
