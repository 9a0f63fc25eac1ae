export { topology, type Topology } from './topology';
export { createLogger, type Logger } from './logger';
export { listenOrExit } from './listen';
export { parseSettings, setting, sidecarSettings, SettingsError, exitOnSettingsError } from './settings';
export {
  DaprHttpError,
  DaprSidecar,
  DaprUnreachableError,
  type CallOptions,
  type SidecarAddress,
  type SidecarResponse,
  type StateEntry,
  type StateItem,
} from './dapr';
