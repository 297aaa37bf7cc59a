import type {
  AddResourceRequest,
  CreateRequest,
  CreateResponse,
  DeleteRequest,
  DeleteResourceRequest,
  Lease as PbLease,
  ListRequest,
  ListResourcesRequest,
  ListResourcesResponse,
  ListResponse,
  Resource as PbResource,
} from '../../api/gen/containerd/services/leases/v1/leases.js';
import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { toTimestamp } from '../../core/protobuf/timestamp.js';
import { type Adaptor, lookupLabel, parseFilters } from '../../core/filters/index.js';
import type { CallContext } from '../server/context.js';
import type { Lease, LeaseResource, LeaseStore } from '../../core/metadata/leases.js';
import type { LeasesService } from '../../api/gen/containerd/services/leases/v1/leases.js';
import type { LocalServiceOf } from '../server/types.js';

export function leaseToProto(l: Lease): PbLease {
  return { id: l.id, createdAt: toTimestamp(l.createdAt), labels: l.labels };
}

/** Field lookup for containerd's lease filters: id, labels.*. */
export function leaseAdaptor(l: Lease): Adaptor {
  return (fp) => {
    const [head, ...rest] = fp;
    switch (head) {
      case 'id':
        return { value: l.id, present: l.id !== '' };
      case 'labels':
        return lookupLabel(l.labels, rest);
      default:
        return { value: '', present: false };
    }
  };
}

function resourceFromProto(r: PbResource | undefined): LeaseResource {
  if (!r) throw errInvalidArgument('resource must be set');
  return { id: r.id, type: r.type };
}

/** Local leases service over the lease store. Leases publish no events, as in containerd. */
export class LeasesLocal implements LocalServiceOf<LeasesService> {
  constructor(private readonly store: LeaseStore) {}

  async create(req: CreateRequest, ctx: CallContext): Promise<CreateResponse> {
    const lease = await this.store.create(ctx.namespace, { id: req.id, labels: req.labels ?? {} });
    return { lease: leaseToProto(lease) };
  }

  async delete(req: DeleteRequest, ctx: CallContext): Promise<Empty> {
    await this.store.delete(ctx.namespace, req.id, { sync: req.sync });
    return {};
  }

  async list(req: ListRequest, ctx: CallContext): Promise<ListResponse> {
    const f = parseFilters(req.filters ?? []);
    const leases = await this.store.list(ctx.namespace, (l) => f.match(leaseAdaptor(l)));
    return { leases: leases.map(leaseToProto) };
  }

  async addResource(req: AddResourceRequest, ctx: CallContext): Promise<Empty> {
    await this.store.addResource(ctx.namespace, req.id, resourceFromProto(req.resource));
    return {};
  }

  async deleteResource(req: DeleteResourceRequest, ctx: CallContext): Promise<Empty> {
    await this.store.deleteResource(ctx.namespace, req.id, resourceFromProto(req.resource));
    return {};
  }

  async listResources(req: ListResourcesRequest, ctx: CallContext): Promise<ListResourcesResponse> {
    return { resources: await this.store.listResources(ctx.namespace, req.id) };
  }
}
