import { ImageCreate, ImageDelete, ImageUpdate } from '../../api/gen/containerd/events/image.js';
import type {
  CreateImageRequest,
  CreateImageResponse,
  DeleteImageRequest,
  GetImageRequest,
  GetImageResponse,
  Image as PbImage,
  ListImagesRequest,
  ListImagesResponse,
  UpdateImageRequest,
  UpdateImageResponse,
} from '../../api/gen/containerd/services/images/v1/images.js';
import type { Empty } from '../../api/gen/google/protobuf/empty.js';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { toTimestamp } from '../../core/protobuf/timestamp.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import type { Publisher } from '../daemon/publisher.js';
import { type Adaptor, lookupLabel, parseFilters } from '../../core/filters/index.js';
import type { CallContext } from '../server/context.js';
import type { Image, ImageStore, NewImage } from '../../core/metadata/images.js';
import type { ImagesService } from '../../api/gen/containerd/services/images/v1/images.js';
import type { LocalServiceOf } from '../server/types.js';

// Image events carry the services package in their type URL, as in containerd.
const EVENT_PACKAGE = 'containerd.services.images.v1';

export function imageToProto(i: Image): PbImage {
  return {
    name: i.name,
    labels: i.labels,
    target: {
      mediaType: i.target.mediaType,
      digest: i.target.digest,
      size: i.target.size,
      annotations: i.target.annotations,
    },
    createdAt: toTimestamp(i.createdAt),
    updatedAt: toTimestamp(i.updatedAt),
  };
}

export function imageFromProto(i: PbImage): NewImage {
  return {
    name: i.name,
    labels: i.labels ?? {},
    target: {
      mediaType: i.target?.mediaType ?? '',
      digest: i.target?.digest ?? '',
      size: i.target?.size ?? 0,
      annotations: i.target?.annotations ?? {},
    },
  };
}

/** Field lookup for containerd's image filters: name, target.digest, target.mediatype, labels.*, annotations.*. */
export function imageAdaptor(i: Image): Adaptor {
  return (fp) => {
    const [head, ...rest] = fp;
    switch (head) {
      case 'name':
        return { value: i.name, present: i.name !== '' };
      case 'target':
        if (rest[0] === 'digest')
          return { value: i.target.digest, present: i.target.digest !== '' };
        if (rest[0] === 'mediatype')
          return { value: i.target.mediaType, present: i.target.mediaType !== '' };
        return { value: '', present: false };
      case 'labels':
        return lookupLabel(i.labels, rest);
      case 'annotations':
        return lookupLabel(i.target.annotations, rest);
      default:
        return { value: '', present: false };
    }
  };
}

/** Local images service: image records in metadata, /images/* events. */
export class ImagesLocal implements LocalServiceOf<ImagesService> {
  constructor(
    private readonly store: ImageStore,
    private readonly events: Publisher,
  ) {}

  async get(req: GetImageRequest, ctx: CallContext): Promise<GetImageResponse> {
    return { image: imageToProto(await this.store.get(ctx.namespace, req.name)) };
  }

  async list(req: ListImagesRequest, ctx: CallContext): Promise<ListImagesResponse> {
    const f = parseFilters(req.filters ?? []);
    const images = await this.store.list(ctx.namespace, (i) => f.match(imageAdaptor(i)));
    return { images: images.map(imageToProto) };
  }

  async create(req: CreateImageRequest, ctx: CallContext): Promise<CreateImageResponse> {
    if (!req.image) throw errInvalidArgument('image must be set');
    const created = await this.store.create(ctx.namespace, imageFromProto(req.image));
    this.events.publish(
      ctx.namespace,
      '/images/create',
      packAny(`${EVENT_PACKAGE}.ImageCreate`, ImageCreate, {
        name: created.name,
        labels: created.labels,
      }),
    );
    return { image: imageToProto(created) };
  }

  async update(req: UpdateImageRequest, ctx: CallContext): Promise<UpdateImageResponse> {
    if (!req.image) throw errInvalidArgument('image must be set');
    const updated = await this.store.update(
      ctx.namespace,
      imageFromProto(req.image),
      req.updateMask ?? [],
    );
    this.events.publish(
      ctx.namespace,
      '/images/update',
      packAny(`${EVENT_PACKAGE}.ImageUpdate`, ImageUpdate, {
        name: updated.name,
        labels: updated.labels,
      }),
    );
    return { image: imageToProto(updated) };
  }

  async delete(req: DeleteImageRequest, ctx: CallContext): Promise<Empty> {
    await this.store.delete(ctx.namespace, req.name, { sync: req.sync });
    this.events.publish(
      ctx.namespace,
      '/images/delete',
      packAny(`${EVENT_PACKAGE}.ImageDelete`, ImageDelete, { name: req.name }),
    );
    return {};
  }
}
