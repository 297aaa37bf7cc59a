import { ContentService } from '../../api/gen/containerd/services/content/v1/content.js';
import { definePlugin, type InitContext, PluginType, pluginRef } from '../daemon/types.js';
import { ExchangeRef } from '../events/plugin.js';
import { contentLeaseHooks } from '../../core/metadata/lease-hooks.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { type ContentLeaseHooks, ContentMetadataStore } from '../../core/metadata/content.js';
import { ContentLocal } from './service.js';
import { LocalContentStore } from '../../core/content/store.js';

/**
 * The content store: blobs under the plugin's root, namespaced records in the
 * metadata database. Its instance is the ContentMetadataStore; the local,
 * namespace-agnostic store is its `.store`.
 */
export const ContentStoreRef = pluginRef<ContentMetadataStore>(PluginType.Content, 'content');
export const ContentServiceRef = pluginRef<ContentLocal>(PluginType.Service, 'content-service');

export interface ContentStorePluginOptions {
  /** Extra plugin types to initialise first (e.g. the lease store the hooks use). */
  requires?: string[];
  /** Lease hooks, built once the required plugins are up. */
  hooks?: (ctx: InitContext) => ContentLeaseHooks;
}

export function makeContentStorePlugin(opts: ContentStorePluginOptions = {}) {
  return definePlugin(ContentStoreRef, {
    requires: [PluginType.Metadata, ...(opts.requires ?? [])],
    config: {},
    async init(ctx) {
      const local = await LocalContentStore.open(ctx.root);
      ctx.meta.exports.root = local.root;
      const hooks = opts.hooks?.(ctx as InitContext) ?? {};
      return new ContentMetadataStore(ctx.get(MetadataRef), local, hooks);
    },
  });
}

// Content written under a `containerd-lease` header is recorded on that lease.
export const contentStorePlugin = makeContentStorePlugin({ hooks: () => contentLeaseHooks });

export const contentServicePlugin = definePlugin(ContentServiceRef, {
  requires: [PluginType.Content, PluginType.Event],
  init: (ctx) => new ContentLocal(ctx.get(ContentStoreRef), ctx.get(ExchangeRef)),
});

export const contentGrpcPlugin = grpcAdapterPlugin('content', ContentService, ContentServiceRef);
