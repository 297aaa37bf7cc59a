import { LeasesService } from '../../api/gen/containerd/services/leases/v1/leases.js';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { MetadataRef } from '../metadata/plugin.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { collectHook } from './collect-hook.js';
import { LeasesLocal } from './service.js';
import { LeaseStore } from '../../core/metadata/leases.js';

export const LeaseManagerRef = pluginRef<LeaseStore>(PluginType.Lease, 'manager');
export const LeasesServiceRef = pluginRef<LeasesLocal>(PluginType.Service, 'leases-service');

/** The lease manager: leases in the metadata database; other plugins record resources with it. */
export const leaseManagerPlugin = definePlugin(LeaseManagerRef, {
  requires: [PluginType.Metadata],
  init: (ctx) => new LeaseStore(ctx.get(MetadataRef), { collect: collectHook(ctx) }),
});

export const leasesServicePlugin = definePlugin(LeasesServiceRef, {
  requires: [PluginType.Lease],
  init: (ctx) => new LeasesLocal(ctx.get(LeaseManagerRef)),
});

export const leasesGrpcPlugin = grpcAdapterPlugin('leases', LeasesService, LeasesServiceRef);
