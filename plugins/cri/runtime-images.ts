// The images the runtime runs: a container's, which must have been pulled,
// and the pod sandbox image, pulled on first use (one pull for concurrent pods).

import { BerthError, errNotFound, isBerthError } from '../../core/errors/catalogue.js';
import type { CriImage } from './image-index.js';
import { CRI_NAMESPACE } from './image-store.js';
import type { CriContext } from './runtime-context.js';

export async function requireImage(cx: CriContext, ref: string, field: string): Promise<CriImage> {
  const img = await cx.d.images.find(ref);
  if (!img) {
    throw errNotFound(
      `${field}: image ${JSON.stringify(ref)} is not present in namespace ${CRI_NAMESPACE}; pull it first`,
    );
  }
  return img;
}

/** The sandbox image, pulled first when it is not there (one pull for concurrent pods). */
export async function sandboxImage(cx: CriContext): Promise<CriImage> {
  const ref = cx.d.config.sandbox_image;
  const have = await cx.d.images.find(ref);
  if (have) return have;
  let pulling = cx.sandboxPull;
  if (!pulling) {
    pulling = cx.d.images.pull(ref, { hostsDir: cx.d.config.registry_config_path });
    cx.sandboxPull = pulling;
    void pulling.then(
      () => (cx.sandboxPull = undefined),
      () => (cx.sandboxPull = undefined),
    );
  }
  try {
    await pulling;
  } catch (err) {
    throw new BerthError(
      isBerthError(err) ? err.code : 'Unknown',
      `sandbox image ${JSON.stringify(ref)} is not present and cannot be pulled: ${(err as Error).message}`,
    );
  }
  return requireImage(cx, ref, 'sandbox image');
}
