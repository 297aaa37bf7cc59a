export {
  Collector,
  removedAnything,
  type CollectorOptions,
  type CollectResult,
  type RemovedContent,
  type RemovedIngest,
  type RemovedLease,
  type RemovedSnapshot,
} from '../../core/metadata/gc/collector.js';
export {
  DEFAULT_GC_CONFIG,
  parseGoDuration,
  parseSchedulerConfig,
  type GCSchedulerConfig,
  type SchedulerSettings,
} from './config.js';
export {
  GC_REF_CONTENT,
  GC_REF_SNAPSHOT_PREFIX,
  GC_ROOT_LABEL,
  isGCRoot,
  labelReferences,
  snapshotId,
  type GCNode,
} from '../../core/metadata/gc/labels.js';
export {
  contentLeaseHooks,
  leasedIngestKey,
  readLeasedIngests,
  snapshotLeaseHook,
} from '../../core/metadata/lease-hooks.js';
export {
  mark,
  type IngestNode,
  type MarkOptions,
  type MarkResult,
  type NamespaceState,
  type SnapshotNode,
} from '../../core/metadata/gc/mark.js';
export { GCScheduler, type Collectable, type SchedulerStats } from './scheduler.js';
export { GCLocal, resultToProto } from './service.js';
export {
  DELETION_TOPICS,
  gcGrpcPlugin,
  gcPlugins,
  gcSchedulerPlugin,
  gcServicePlugin,
} from './plugin.js';
