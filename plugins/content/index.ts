export {
  CANONICAL_ALGORITHM,
  digestOf,
  isDigest,
  parseDigest,
  validateDigest,
  type DigestAlgorithm,
  type ParsedDigest,
} from '../../core/content/digest.js';
export {
  BlobReader,
  IngestWriter,
  LocalContentStore,
  READ_CHUNK_SIZE,
  type BlobInfo,
  type IngestStatus,
  type WriterOptions,
} from '../../core/content/store.js';
export {
  CONTENT_KIND,
  ContentMetadataStore,
  NamespacedWriter,
  contentAdaptor,
  type ContentInfo,
  type ContentLeaseHooks,
  type NamespacedWriterOptions,
} from '../../core/metadata/content.js';
export { ContentLocal, infoToProto } from './service.js';
export {
  contentGrpcPlugin,
  contentServicePlugin,
  contentStorePlugin,
  makeContentStorePlugin,
  type ContentStorePluginOptions,
} from './plugin.js';
