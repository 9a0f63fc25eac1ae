import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where dev/dapr-binaries.sh puts the Dapr binaries, as the Dapr CLI expects. */
export const daprBin = join(process.env.DAPR_INSTALL_DIR ?? join(homedir(), '.dapr'), 'bin');

export function daprBinary(name: 'daprd' | 'sentry' | 'dapr' | 'jaeger'): string {
  const path = join(daprBin, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run dev/dapr-binaries.sh (npm start and npm test run it for you)`);
  }
  return path;
}
