export {
  MetadataDB,
  type MetadataDBOptions,
  type MutationEvent,
  type MutationListener,
} from './db.js';
export {
  ContainerStore,
  CONTAINERS_KIND,
  type Container,
  type ContainerRuntime,
  type ContainerUpdate,
  type NewContainer,
} from './containers.js';
export {
  NamespaceStore,
  namespaceLock,
  ensureNamespace,
  resourceKindsIn,
  type Namespace,
} from './namespaces.js';
export { type AnyValue } from './any.js';
export { validateLabel, validateLabels, MAX_LABEL_SIZE, type Labels } from './labels.js';
export { SCHEMA_VERSION, MIGRATIONS, type Migration, type SchemaResult } from './schema.js';
export { type ReadTx, type WriteTx, type TxRunner, type RangeOptions } from './transaction.js';
export * as keys from './keys.js';
