export { Client } from './client.js';
export type { Container, Envelope, Namespace, Plugin, VersionResponse } from './client.js';
export { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, type ConnectionOptions } from './connection.js';
export { BerthError, isNotFound, isAlreadyExists } from '../errors.js';
export {
  ContainerHandle,
  ProcessHandle,
  TaskHandle,
  type NewContainerOptions,
  type NewTaskOptions,
  type StdioOptions,
} from './container.js';
export { FifoSet, type FifoPaths } from './fifo-io.js';
export type { DeleteResponse, Metric, Process, ProcessInfo, WaitResponse } from './tasks.js';
