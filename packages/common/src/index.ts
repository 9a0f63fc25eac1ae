export { topology, type Topology } from './topology';
export { createLogger, type Logger } from './logger';
export { parseSettings, setting, SettingsError, exitOnSettingsError } from './settings';
export { createDaprClient, waitForSidecar, type SidecarAddress } from './dapr';
