export {
  CANONICAL_ALGORITHM,
  digestOf,
  isDigest,
  parseDigest,
  validateDigest,
  type DigestAlgorithm,
  type ParsedDigest,
} from './digest.js';
export {
  BlobReader,
  IngestWriter,
  LocalContentStore,
  READ_CHUNK_SIZE,
  type BlobInfo,
  type IngestStatus,
  type WriterOptions,
} from './store.js';
export {
  CONTENT_KIND,
  ContentMetadataStore,
  NamespacedWriter,
  contentAdaptor,
  type ContentInfo,
  type ContentLeaseHooks,
  type NamespacedWriterOptions,
} from './metadata-store.js';
export { ContentLocal, infoToProto } from './service.js';
export {
  contentGrpcPlugin,
  contentServicePlugin,
  contentStorePlugin,
  makeContentStorePlugin,
  type ContentStorePluginOptions,
} from './plugin.js';
