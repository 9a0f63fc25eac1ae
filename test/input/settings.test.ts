import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { appCommand } from '../../harness/apps';
import { generatorSettings } from '../../apps/order-generator/src/config';
import { storeSettings } from '../../apps/order-store/src/config';

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
