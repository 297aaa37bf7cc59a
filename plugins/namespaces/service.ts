import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import {
  NamespaceCreate,
  NamespaceDelete,
  NamespaceUpdate,
} from '../../api/gen/containerd/events/namespace.js';
import type {
  CreateNamespaceRequest,
  CreateNamespaceResponse,
  DeleteNamespaceRequest,
  GetNamespaceRequest,
  GetNamespaceResponse,
  ListNamespacesRequest,
  ListNamespacesResponse,
  UpdateNamespaceRequest,
  UpdateNamespaceResponse,
} from '../../api/gen/containerd/services/namespaces/v1/namespace.js';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import type { Publisher } from '../daemon/publisher.js';
import type { NamespaceStore } from '../../core/metadata/namespaces.js';
import { lookupLabel, parseFilters } from '../../core/filters/index.js';
import type { CallContext } from '../server/context.js';
import type { NamespacesService } from '../../api/gen/containerd/services/namespaces/v1/namespace.js';
import type { LocalServiceOf } from '../server/types.js';

/** Local namespaces service: metadata store plus /namespaces/* events. */
export class NamespacesLocal implements LocalServiceOf<NamespacesService> {
  constructor(
    private readonly store: NamespaceStore,
    private readonly events: Publisher,
  ) {}

  async get(req: GetNamespaceRequest): Promise<GetNamespaceResponse> {
    const ns = await this.store.get(req.name);
    return { namespace: { name: ns.name, labels: ns.labels } };
  }

  async list(req: ListNamespacesRequest): Promise<ListNamespacesResponse> {
    const filter = parseFilters(req.filter ? [req.filter] : []);
    const all = await this.store.list();
    return {
      namespaces: all
        .filter((ns) =>
          filter.match((fp) =>
            fp[0] === 'name'
              ? { value: ns.name, present: true }
              : fp[0] === 'labels'
                ? lookupLabel(ns.labels, fp.slice(1))
                : { value: '', present: false },
          ),
        )
        .map((ns) => ({ name: ns.name, labels: ns.labels })),
    };
  }

  async create(req: CreateNamespaceRequest, ctx: CallContext): Promise<CreateNamespaceResponse> {
    if (!req.namespace) throw errInvalidArgument('namespace must be set');
    const ns = await this.store.create(req.namespace.name, req.namespace.labels ?? {});
    this.events.publish(
      ctx.namespace,
      '/namespaces/create',
      packAny('containerd.events.NamespaceCreate', NamespaceCreate, {
        name: ns.name,
        labels: ns.labels,
      }),
    );
    return { namespace: { name: ns.name, labels: ns.labels } };
  }

  async update(req: UpdateNamespaceRequest, ctx: CallContext): Promise<UpdateNamespaceResponse> {
    if (!req.namespace) throw errInvalidArgument('namespace must be set');
    const ns = await this.store.update(
      req.namespace.name,
      req.namespace.labels ?? {},
      req.updateMask ?? [],
    );
    this.events.publish(
      ctx.namespace,
      '/namespaces/update',
      packAny('containerd.events.NamespaceUpdate', NamespaceUpdate, {
        name: ns.name,
        labels: ns.labels,
      }),
    );
    return { namespace: { name: ns.name, labels: ns.labels } };
  }

  async delete(req: DeleteNamespaceRequest, ctx: CallContext): Promise<Empty> {
    await this.store.delete(req.name);
    this.events.publish(
      ctx.namespace,
      '/namespaces/delete',
      packAny('containerd.events.NamespaceDelete', NamespaceDelete, { name: req.name }),
    );
    return {};
  }
}
