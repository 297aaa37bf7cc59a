import {
  ContainerCreate,
  ContainerDelete,
  ContainerUpdate,
} from '../../api/gen/containerd/events/container.js';
import type {
  Container as PbContainer,
  CreateContainerRequest,
  CreateContainerResponse,
  DeleteContainerRequest,
  GetContainerRequest,
  GetContainerResponse,
  ListContainerMessage,
  ListContainersRequest,
  ListContainersResponse,
  UpdateContainerRequest,
  UpdateContainerResponse,
} from '../../api/gen/containerd/services/containers/v1/containers.js';
import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { fromTimestamp, toTimestamp } from '../../core/protobuf/timestamp.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import type { Publisher } from '../daemon/publisher.js';
import { lookupLabel, parseFilters } from '../../core/filters/index.js';
import type { Container, ContainerStore, NewContainer } from '../../core/metadata/containers.js';
import type { CallContext } from '../server/context.js';
import type { ContainersService } from '../../api/gen/containerd/services/containers/v1/containers.js';
import type { LocalServiceOf } from '../server/types.js';

export function containerToProto(c: Container): PbContainer {
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtime: { name: c.runtime.name, options: c.runtime.options },
    spec: c.spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    createdAt: toTimestamp(c.createdAt),
    updatedAt: toTimestamp(c.updatedAt),
    extensions: c.extensions,
  };
}

export function containerFromProto(c: PbContainer): NewContainer & { updatedAt?: Date } {
  return {
    id: c.id,
    labels: c.labels ?? {},
    image: c.image,
    runtime: { name: c.runtime?.name ?? '', options: c.runtime?.options },
    spec: c.spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions: c.extensions ?? {},
    updatedAt: fromTimestamp(c.updatedAt),
  };
}

/** Field lookup for containerd's container filters (id, image, runtime.name, labels.*, ...). */
function adaptor(c: Container) {
  return (fp: string[]) => {
    const [head, ...rest] = fp;
    switch (head) {
      case 'id':
        return { value: c.id, present: c.id !== '' };
      case 'image':
        return { value: c.image, present: c.image !== '' };
      case 'runtime':
        if (rest.length === 0) return { value: '', present: true };
        return rest[0] === 'name'
          ? { value: c.runtime.name, present: c.runtime.name !== '' }
          : { value: '', present: false };
      case 'snapshotter':
        return { value: c.snapshotter, present: c.snapshotter !== '' };
      case 'snapshotkey':
        return { value: c.snapshotKey, present: c.snapshotKey !== '' };
      case 'labels':
        return lookupLabel(c.labels, rest);
      default:
        return { value: '', present: false };
    }
  };
}

/** Local containers service: records in metadata, /containers/* events. */
export class ContainersLocal implements LocalServiceOf<ContainersService> {
  constructor(
    private readonly store: ContainerStore,
    private readonly events: Publisher,
  ) {}

  async get(req: GetContainerRequest, ctx: CallContext): Promise<GetContainerResponse> {
    return { container: containerToProto(await this.store.get(ctx.namespace, req.id)) };
  }

  async list(req: ListContainersRequest, ctx: CallContext): Promise<ListContainersResponse> {
    return { containers: (await this.filtered(req.filters ?? [], ctx)).map(containerToProto) };
  }

  async *listStream(
    req: ListContainersRequest,
    ctx: CallContext,
  ): AsyncGenerator<ListContainerMessage> {
    for (const c of await this.filtered(req.filters ?? [], ctx)) {
      yield { container: containerToProto(c) };
    }
  }

  private async filtered(filters: string[], ctx: CallContext): Promise<Container[]> {
    const f = parseFilters(filters);
    return this.store.list(ctx.namespace, (c) => f.match(adaptor(c)));
  }

  async create(req: CreateContainerRequest, ctx: CallContext): Promise<CreateContainerResponse> {
    if (!req.container) throw errInvalidArgument('container must be set');
    const created = await this.store.create(ctx.namespace, containerFromProto(req.container));
    this.events.publish(
      ctx.namespace,
      '/containers/create',
      packAny('containerd.events.ContainerCreate', ContainerCreate, {
        id: created.id,
        image: created.image,
        runtime: { name: created.runtime.name, options: created.runtime.options },
      }),
    );
    return { container: containerToProto(created) };
  }

  async update(req: UpdateContainerRequest, ctx: CallContext): Promise<UpdateContainerResponse> {
    if (!req.container) throw errInvalidArgument('container must be set');
    if (!req.container.id) throw errInvalidArgument('container id must be set');
    const incoming = containerFromProto(req.container);
    const updated = await this.store.update(
      ctx.namespace,
      { ...incoming, runtime: req.container.runtime ? incoming.runtime : undefined },
      req.updateMask ?? [],
    );
    this.events.publish(
      ctx.namespace,
      '/containers/update',
      packAny('containerd.events.ContainerUpdate', ContainerUpdate, {
        id: updated.id,
        image: updated.image,
        labels: updated.labels,
        snapshotKey: updated.snapshotKey,
      }),
    );
    return { container: containerToProto(updated) };
  }

  async delete(req: DeleteContainerRequest, ctx: CallContext): Promise<Empty> {
    await this.store.delete(ctx.namespace, req.id);
    this.events.publish(
      ctx.namespace,
      '/containers/delete',
      packAny('containerd.events.ContainerDelete', ContainerDelete, { id: req.id }),
    );
    return {};
  }
}
