import { LeasesService } from '../../api/gen/containerd/services/leases/v1/leases.js';
import { PluginType, type Registration } from '../daemon/types.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { grpcAdapterPlugin } from '../server/grpc-plugin.js';
import { collectHook } from './collect-hook.js';
import { LeasesLocal } from './service.js';
import { LeaseStore } from '../../core/metadata/leases.js';

/** The lease manager: leases in the metadata database; other plugins record resources with it. */
export const leaseManagerPlugin: Registration<Record<string, never>, LeaseStore> = {
  type: PluginType.Lease,
  id: 'manager',
  requires: [PluginType.Metadata],
  init: (ctx) =>
    new LeaseStore(ctx.get<MetadataDB>(PluginType.Metadata), { collect: collectHook(ctx) }),
};

export const leasesServicePlugin: Registration = {
  type: PluginType.Service,
  id: 'leases-service',
  requires: [PluginType.Lease],
  init: (ctx) => new LeasesLocal(ctx.get<LeaseStore>(PluginType.Lease, 'manager')),
};

export const leasesGrpcPlugin = grpcAdapterPlugin(
  'leases',
  'containerd.services.leases.v1.Leases',
  LeasesService,
  'leases-service',
);
