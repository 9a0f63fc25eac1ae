import { expect } from '@jest/globals';
import { deployedEnv } from '../../harness/deployed';

// The bench runs each app with the settings its Deployment gives it; secrets stay in the cluster.
describe('deployedEnv', () => {
  test("reads the plain values of the app's container and leaves secret references out", () => {
    const store = deployedEnv('order-store');
    expect(store).toMatchObject({ PORT: '3000', STATESTORE_NAME: 'statestore', LOG_LEVEL: expect.any(String) });
    expect(store).not.toHaveProperty('WRITE_TOKEN');
    // A Pod's own port: here the bench runs several stores side by side, each scraped on its app port.
    expect(store).not.toHaveProperty('METRICS_PORT');
    expect(deployedEnv('order-generator')).toMatchObject({ ORDER_STORE_APP_ID: 'order-store' });
  });
});
