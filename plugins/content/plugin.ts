import { ContentService } from '../../api/gen/containerd/services/content/v1/content.js';
import type { Publisher } from '../daemon/publisher.js';
import { type InitContext, PluginType, type Registration } from '../daemon/types.js';
import { contentLeaseHooks } from '../../core/metadata/lease-hooks.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { type ContentLeaseHooks, ContentMetadataStore } from '../../core/metadata/content.js';
import { ContentLocal } from './service.js';
import { LocalContentStore } from '../../core/content/store.js';

export interface ContentStorePluginOptions {
  /** Extra plugin types to initialise first (e.g. the lease store the hooks use). */
  requires?: string[];
  /** Lease hooks, built once the required plugins are up. */
  hooks?: (ctx: InitContext) => ContentLeaseHooks;
}

/**
 * The content store: blobs under the plugin's root, namespaced records in the
 * metadata database. Its instance is the ContentMetadataStore; the local,
 * namespace-agnostic store is its `.store`.
 */
export function makeContentStorePlugin(
  opts: ContentStorePluginOptions = {},
): Registration<Record<string, never>, ContentMetadataStore> {
  return {
    type: PluginType.Content,
    id: 'content',
    requires: [PluginType.Metadata, ...(opts.requires ?? [])],
    config: {},
    async init(ctx) {
      const local = await LocalContentStore.open(ctx.root);
      ctx.meta.exports.root = local.root;
      const hooks = opts.hooks?.(ctx as InitContext) ?? {};
      return new ContentMetadataStore(ctx.get<MetadataDB>(PluginType.Metadata), local, hooks);
    },
  };
}

// Content written under a `containerd-lease` header is recorded on that lease.
export const contentStorePlugin = makeContentStorePlugin({ hooks: () => contentLeaseHooks });

export const contentServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'content-service',
  requires: [PluginType.Content, PluginType.Event],
  init: (ctx) =>
    new ContentLocal(
      ctx.get<ContentMetadataStore>(PluginType.Content, 'content'),
      ctx.get<Publisher>(PluginType.Event),
    ),
};

export const contentGrpcPlugin = grpcAdapterPlugin(
  'content',
  'containerd.services.content.v1.Content',
  ContentService,
  'content-service',
);
