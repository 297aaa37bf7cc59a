// The Images service from the client: image records (name → target descriptor).

import { type Image, ImagesClient } from '../api/gen/containerd/services/images/v1/images.js';
import type { Descriptor } from '../api/gen/containerd/types/descriptor.js';
import { isAlreadyExists } from '../core/errors/catalogue.js';
import type { CallSite } from './connection.js';

export type { Descriptor, Image };

export interface NewImageArgs {
  name: string;
  target: Pick<Descriptor, 'mediaType' | 'digest' | 'size'> & {
    annotations?: Record<string, string>;
  };
  labels?: Record<string, string>;
}

function toWire(image: NewImageArgs) {
  return {
    name: image.name,
    labels: image.labels ?? {},
    target: { annotations: {}, ...image.target },
    createdAt: undefined,
    updatedAt: undefined,
  };
}

export function imagesApi(c: CallSite) {
  const api = {
    /** Images matching any of the filters (e.g. `name~=busybox`, `labels.app==web`). */
    list: async (...filters: string[]): Promise<Image[]> =>
      (await c.call<{ images: Image[] }>(ImagesClient, 'list', { filters })).images,
    get: async (name: string): Promise<Image> =>
      (await c.call<{ image: Image }>(ImagesClient, 'get', { name })).image,
    create: async (image: NewImageArgs): Promise<Image> =>
      (await c.call<{ image: Image }>(ImagesClient, 'create', { image: toWire(image) })).image,
    /**
     * Update with a field mask: `labels`, `labels.<k>`, `target`,
     * `annotations`, `annotations.<k>`; no paths replaces labels and target.
     */
    update: async (image: NewImageArgs, fieldpaths: string[] = []): Promise<Image> =>
      (
        await c.call<{ image: Image }>(ImagesClient, 'update', {
          image: toWire(image),
          updateMask: fieldpaths,
        })
      ).image,
    /** Sets (or, with an empty value, removes) labels; other labels are kept. */
    setLabels: async (name: string, labels: Record<string, string>): Promise<Image> =>
      (
        await c.call<{ image: Image }>(ImagesClient, 'update', {
          image: { name, labels, target: undefined },
          updateMask: Object.keys(labels).map((k) => `labels.${k}`),
        })
      ).image,
    /** Replaces every label. */
    replaceLabels: async (name: string, labels: Record<string, string>): Promise<Image> =>
      (
        await c.call<{ image: Image }>(ImagesClient, 'update', {
          image: { name, labels, target: undefined },
          updateMask: ['labels'],
        })
      ).image,
    /** With `sync`, returns only after garbage collection has run. */
    delete: async (name: string, opts: { sync?: boolean } = {}): Promise<void> => {
      await c.call(ImagesClient, 'delete', { name, sync: opts.sync ?? false });
    },
    /**
     * Gives `source`'s target and labels a new name, like `ctr images tag`.
     * With `force` an existing image of that name is replaced.
     */
    tag: async (source: string, name: string, opts: { force?: boolean } = {}): Promise<Image> => {
      const src = await api.get(source);
      const image: NewImageArgs = { name, labels: src.labels, target: src.target! };
      try {
        return await api.create(image);
      } catch (err) {
        if (!opts.force || !isAlreadyExists(err)) throw err;
        return api.update(image, ['target', 'labels']);
      }
    },
  };
  return api;
}

export type ImagesApi = ReturnType<typeof imagesApi>;
