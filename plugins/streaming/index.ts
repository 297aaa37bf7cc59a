export { StreamingServer, type StreamingServerConfig } from './server.js';
export { AttachHub, type AttachHubOptions } from './attach-hub.js';
export type {
  AttachRequest,
  CommandStreams,
  ExecRequest,
  PortForwardRequest,
  StreamingRuntime,
  TerminalSize,
} from './types.js';
