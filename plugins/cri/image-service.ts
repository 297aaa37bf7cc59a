// runtime.v1.ImageService over the CRI's image store in the k8s.io namespace:
// lookups from its in-memory index, PullImage to the registries in-process.

import fs from 'node:fs/promises';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import type {
  ImageFsInfoResponse,
  ImageStatusRequest,
  ImageStatusResponse,
  ListImagesRequest,
  ListImagesResponse,
  PullImageRequest,
  PullImageResponse,
  RemoveImageRequest,
} from '../../api/gen/cri/runtime/v1/api.js';
import type { CallContext } from '../server/context.js';
import type { LocalServiceOf } from '../server/types.js';
import type { ImageServiceService } from '../../api/gen/cri/runtime/v1/api.js';
import type { ImageServiceUnimplemented } from './unimplemented.js';
import type { CriImageStore } from './image-store.js';

export class CriImageService implements LocalServiceOf<
  ImageServiceService,
  ImageServiceUnimplemented
> {
  constructor(
    private readonly images: CriImageStore,
    /** Directories whose usage ImageFsInfo reports (content and snapshots). */
    private readonly fsRoots: { mountpoint: string; dirs: string[] },
    /** hosts.toml directory for pulls (`registry_config_path`). */
    private readonly registryConfigPath: string,
  ) {}

  async listImages(req: ListImagesRequest): Promise<ListImagesResponse> {
    const want = req.filter?.image?.image;
    if (want) {
      const one = await this.images.find(want);
      return { images: one ? [one.cri] : [] };
    }
    return { images: (await this.images.list()).map((i) => i.cri) };
  }

  async imageStatus(req: ImageStatusRequest): Promise<ImageStatusResponse> {
    if (!req.image?.image) throw errInvalidArgument('image.image is required');
    const r = await this.images.find(req.image.image);
    if (!r) return { image: undefined, info: {} };
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        chainID: r.chainIds.at(-1) ?? '',
        imageSpec: r.config,
        manifest: r.manifestDigest,
      });
    }
    return { image: r.cri, info };
  }

  /** Pulls into k8s.io through the configured registry hosts; answers the image id. */
  async pullImage(req: PullImageRequest, ctx: CallContext): Promise<PullImageResponse> {
    const ref = req.image?.image;
    if (!ref) throw errInvalidArgument('image.image is required');
    const img = await this.images.pull(ref, {
      hostsDir: this.registryConfigPath,
      auth: req.auth,
      signal: ctx.signal,
    });
    return { imageRef: img.id };
  }

  /** Removes every name of the image; an image that is not there is not an error. */
  async removeImage(req: RemoveImageRequest): Promise<object> {
    if (!req.image?.image) throw errInvalidArgument('image.image is required');
    const r = await this.images.find(req.image.image);
    if (r) await this.images.remove(r);
    return {};
  }

  async imageFsInfo(): Promise<ImageFsInfoResponse> {
    let bytes = 0;
    let inodes = 0;
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = `${dir}/${e.name}`;
        inodes++;
        if (e.isDirectory()) await walk(p);
        else {
          const st = await fs.lstat(p).catch(() => undefined);
          if (st) bytes += st.blocks * 512;
        }
      }
    };
    for (const d of this.fsRoots.dirs) await walk(d);
    return {
      imageFilesystems: [
        {
          timestamp: BigInt(Date.now()) * 1_000_000n,
          fsId: { mountpoint: this.fsRoots.mountpoint },
          usedBytes: { value: BigInt(bytes) },
          inodesUsed: { value: BigInt(inodes) },
        },
      ],
      containerFilesystems: [],
    };
  }
}
