import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isolatedConfiguration } from '../../harness/daprd';

interface IsolatedConfiguration {
  spec: {
    mtls: { enabled: boolean };
    accessControl: { defaultAction: string };
    nameResolution: { component: string; configuration: Record<string, string> };
  };
}

function seconds(setting: string, value: string | undefined): number {
  const match = /^(\d+)s$/.exec(value ?? '');
  if (!match) throw new Error(`${setting}: expected whole seconds like "5s", got ${value}`);
  return Number(match[1]);
}

describe('isolatedConfiguration', () => {
  const path = isolatedConfiguration(join(mkdtempSync(join(tmpdir(), 'orders-names-test-')), 'names.db'));
  const { spec } = parse(readFileSync(path, 'utf8')) as IsolatedConfiguration;

  test("renews a sidecar's name-resolution row with at least a second to spare", () => {
    const { component, configuration } = spec.nameResolution;
    expect(component).toBe('sqlite');
    const updateInterval = seconds('updateInterval', configuration.updateInterval);
    const timeout = seconds('timeout', configuration.timeout);
    // Dapr's SQLite resolver renews every updateInterval - timeout and counts a row while
    // floor(now) - floor(last renewal) < updateInterval, so a renewal may start late by timeout
    // less up to one second of truncation before calls to that app fail.
    expect(timeout - 1).toBeGreaterThanOrEqual(1);
    // The resolver refuses to start otherwise.
    expect(updateInterval - timeout).toBeGreaterThanOrEqual(1);
    // A stopped sidecar drops out as soon as with the defaults.
    expect(updateInterval).toBeLessThanOrEqual(5);
  });

  test('keeps the local Configuration: mTLS on, access control denying by default', () => {
    expect(spec.mtls.enabled).toBe(true);
    expect(spec.accessControl.defaultAction).toBe('deny');
  });
});
