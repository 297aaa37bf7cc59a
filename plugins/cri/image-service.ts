// runtime.v1.ImageService over the images, content and snapshot stores in the
// k8s.io namespace; PullImage goes to the registries in-process.

import fs from 'node:fs/promises';
import { errInternal, errInvalidArgument } from '../../core/errors/catalogue.js';
import type {
  Image,
  ImageFsInfoResponse,
  ImageStatusRequest,
  ImageStatusResponse,
  ListImagesRequest,
  ListImagesResponse,
  PullImageRequest,
  PullImageResponse,
  RemoveImageRequest,
} from '../../api/gen/cri/runtime/v1/api.js';
import { parseNumericUser } from '../../core/oci/index.js';
import type { CallContext } from '../server/context.js';
import { pullImage } from './image-pull.js';
import { type CriImageStore, type ResolvedImage, isDigestRef, repository } from './image-store.js';

export function toCriImage(r: ResolvedImage): Image {
  const tags = r.names.filter((n) => !isDigestRef(n));
  // What each name was recorded at (an index for multi-platform pulls), as containerd reports it.
  const digests = [
    ...new Set(r.names.map((n) => `${repository(n)}@${r.targets[n] ?? r.manifestDigest}`)),
  ];
  const user = r.config.User ?? '';
  const numeric = user ? parseNumericUser(user.split(':')[0]!) : undefined;
  return {
    id: r.id,
    repoTags: tags,
    repoDigests: digests,
    size: BigInt(r.size),
    uid: numeric ? { value: BigInt(numeric.uid) } : undefined,
    username: numeric ? '' : user.split(':')[0]!,
    spec: {
      image: r.id,
      annotations: {},
      userSpecifiedImage: '',
      runtimeHandler: '',
      imageRef: r.id,
    },
    pinned: false,
  };
}

export class CriImageService {
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
      return { images: one ? [toCriImage(one)] : [] };
    }
    return { images: (await this.images.listResolved()).map(toCriImage) };
  }

  async imageStatus(req: ImageStatusRequest): Promise<ImageStatusResponse> {
    if (!req.image?.image) throw errInvalidArgument('image.image is required');
    const r = await this.images.find(req.image.image);
    if (!r) return { image: undefined, info: {} };
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        chainID: r.chainIds[r.chainIds.length - 1] ?? '',
        imageSpec: r.config,
        manifest: r.manifestDigest,
      });
    }
    return { image: toCriImage(r), info };
  }

  /** Pulls into k8s.io through the configured registry hosts; answers the image id. */
  async pullImage(req: PullImageRequest, ctx: CallContext): Promise<PullImageResponse> {
    const ref = req.image?.image;
    if (!ref) throw errInvalidArgument('image.image is required');
    const pulled = await pullImage(this.images, ref, {
      hostsDir: this.registryConfigPath,
      auth: req.auth,
      signal: ctx.signal,
    });
    const img = await this.images.find(pulled.name);
    if (!img) throw errInternal(`image ${pulled.name} was pulled but cannot be read back`);
    return { imageRef: img.id };
  }

  /** Removes every name of the image; an image that is not there is not an error. */
  async removeImage(req: RemoveImageRequest): Promise<object> {
    if (!req.image?.image) throw errInvalidArgument('image.image is required');
    const r = await this.images.find(req.image.image);
    if (!r) return {};
    for (const n of r.names) await this.images.deleteRecord(n);
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
