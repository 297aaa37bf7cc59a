export { MetaStore } from './metastore.js';
export { StoreTx, type SnapshotRecord } from './transaction.js';
export { validateKey } from './record.js';
