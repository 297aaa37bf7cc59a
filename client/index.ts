export { Client } from './client.js';
export type { Container, Envelope, Namespace, Plugin, VersionResponse } from './client.js';
export { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, type ConnectionOptions } from './connection.js';
export { BerthError, isNotFound, isAlreadyExists } from '../core/errors/catalogue.js';
export {
  ContainerHandle,
  ProcessHandle,
  TaskHandle,
  type NewContainerOptions,
  type NewTaskOptions,
  type StdioOptions,
} from './container.js';
export { FifoSet, type FifoPaths } from '../core/runtime/fifo-io.js';
export type { DeleteResponse, Metric, Process, ProcessInfo, WaitResponse } from './tasks.js';
export {
  importArchive,
  exportArchive,
  type ImportArchiveOptions,
  type ImportResult,
} from './import.js';
export { unpack, isUnpacked, type UnpackOptions } from './unpack.js';
export {
  ClientImage,
  getImage,
  listImages,
  newContainerFromImage,
  type NewContainerFromImageOptions,
} from './image.js';
export { ensureImage } from './ensure-image.js';
export {
  pull,
  fetchImage,
  type PullOptions,
  type PullAndUnpackOptions,
  type PulledImage,
  type PullResult,
} from './pull.js';
export { push, type PushOptions, type PushResult } from './push.js';
export type { TransferProgress, TransferStatus, ProgressHandler } from './transfer-progress.js';
export { withLease, LeasedClient } from './leased.js';
export { diffApi, type DiffApi } from './diff.js';
