import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { appCommand } from '../../harness/apps';
import { generatorSettings } from '../../../apps/order-generator/src/config';
import { storeSettings } from '../../../apps/order-store/src/config';

const run = promisify(execFile);

// One bad value per setting. The guard below fails when a setting is added without one here.
const badValues = {
  'order-store': {
    PORT: 'abc',
    DAPR_HOST: 'bad host!',
    DAPR_API_TOKEN: 'two words',
    DAPR_HTTP_PORT: '0',
    STATESTORE_NAME: 'State_Store',
    BODY_LIMIT_BYTES: '10',
    BODY_TIMEOUT_MS: 'soon',
    SHUTDOWN_GRACE_MS: '-1',
    LOG_LEVEL: 'loud',
    WRITE_TOKEN: 'short',
    APP_API_TOKEN: 'short',
    PROTECT_READS: 'maybe',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector:4318',
    TRACE_SAMPLING_RATE: '1.5',
    METRICS_PORT: 'nine',
  },
  'order-generator': {
    PORT: '70000',
    DAPR_HOST: 'bad host!',
    DAPR_API_TOKEN: 'line\nbreak',
    DAPR_HTTP_PORT: 'x',
    ORDER_STORE_APP_ID: 'Order Store',
    ORDERS_PER_SECOND: '0',
    ORDER_LIMIT: '-5',
    MAX_IN_FLIGHT: '0',
    BACKLOG_LIMIT: 'lots',
    RETRY_BASE_MS: '0',
    RETRY_MAX_MS: '1e9',
    REQUEST_TIMEOUT_MS: '5',
    SHUTDOWN_GRACE_MS: 'never',
    LOG_LEVEL: 'verbose',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'collector',
    TRACE_SAMPLING_RATE: 'half',
    METRICS_PORT: '99999',
  },
} as const;

type App = keyof typeof badValues;

describe('a bad setting stops the app at startup, naming the setting', () => {
  test('every setting has a bad value in this suite', () => {
    expect(Object.keys(badValues['order-store']).sort()).toEqual(Object.keys(storeSettings).sort());
    expect(Object.keys(badValues['order-generator']).sort()).toEqual(Object.keys(generatorSettings).sort());
  });

  const cases = (Object.keys(badValues) as App[]).flatMap((app) =>
    Object.entries(badValues[app]).map(([name, value]) => [app, name, value] as const),
  );

  test.each(cases)('%s with %s=%s', async (app, name, value) => {
    const { cwd, args } = appCommand(app, 'source');
    const outcome = await run(process.execPath, args, {
      cwd,
      env: { ...process.env, [name]: value },
      timeout: 20_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code?: number; stderr?: string }) => ({ code: error.code, stderr: error.stderr ?? '' }),
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(`${name}=${JSON.stringify(value)}`);
  });
});

describe('a port another process holds stops the app at startup, naming PORT', () => {
  test.each(['order-store', 'order-generator'] as const)('%s', async (app) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const { cwd, args } = appCommand(app, 'source');
      // No sidecar answers on DAPR_HTTP_PORT: the app must fail on its own port before it gets that far.
      const outcome = await run(process.execPath, args, { cwd, env: { ...process.env, PORT: String(port), DAPR_HTTP_PORT: '1' }, timeout: 20_000 }).then(
        () => ({ code: 0, stdout: '' }),
        (error: { code?: number; stdout?: string }) => ({ code: error.code, stdout: error.stdout ?? '' }),
      );
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(`cannot listen on PORT=${port}: the port is in use`);
      expect(outcome.stdout).not.toContain('Unhandled');
    } finally {
      taken.close();
    }
  });
});
