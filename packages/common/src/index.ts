export { topology, type Topology } from './topology';
export { createLogger, type Logger } from './logger';
export { parseSettings, setting, SettingsError, exitOnSettingsError } from './settings';
export { createDaprClient, type SidecarAddress } from './dapr';
