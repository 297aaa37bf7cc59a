// containerd.services.diff.v1.Diff: Apply puts a layer blob from the content
// store onto a snapshot's mounts; Diff writes the changes between two sets of
// mounts as a layer blob into the content store. Image unpacking in clients
// (ours and ctr) goes through Apply.
//
// Apply avoids mounting where it can: a single overlay mount with an upperdir
// is applied straight into the upperdir with overlay-native whiteouts, a
// single bind mount into its source directory; anything else is mounted on a
// private temporary directory first.

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type {
  ApplyRequest,
  ApplyResponse,
  DiffRequest,
  DiffResponse,
} from '../../api/gen/containerd/services/diff/v1/diff.js';
import type { Descriptor as PbDescriptor } from '../../api/gen/containerd/types/descriptor.js';
import type { Mount as PbMount } from '../../api/gen/containerd/types/mount.js';
import {
  BerthError,
  errInvalidArgument,
  errNotImplemented,
  isAlreadyExists,
} from '../../core/errors/catalogue.js';
import { mountAll, unmountAll } from '../../core/mount/index.js';
import type { ContentMetadataStore } from '../../core/metadata/content.js';
import { parseDigest } from '../../core/content/digest.js';
import { layerCompression, Label, MediaType } from '../../core/images/oci/media-types.js';
import type { CallContext } from '../server/context.js';
import { applyLayer, type ApplyResult } from '../../core/diff/apply.js';
import { writeDiff } from '../../core/diff/diff.js';
import type { DiffService } from '../../api/gen/containerd/services/diff/v1/diff.js';
import type { LocalServiceOf } from '../server/types.js';

export interface DiffTarget {
  /** Directory to apply into or read from. */
  dir: string;
  overlayUpper?: boolean;
  lowerDirs?: string[];
  /** Undo whatever was done to get `dir` (unmount, remove the temp dir). */
  release(): void;
}

function option(m: PbMount, name: string): string | undefined {
  const prefix = `${name}=`;
  return m.options.find((o) => o.startsWith(prefix))?.slice(prefix.length);
}

function isBind(m: PbMount): boolean {
  return m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind');
}

/** The directory the mounts make, without mounting when one mount says it all. */
export function targetFor(mounts: PbMount[], workRoot: string, readonly: boolean): DiffTarget {
  if (mounts.length === 0) throw errInvalidArgument('mounts must not be empty');
  if (mounts.length === 1) {
    const m = mounts[0]!;
    const upper = option(m, 'upperdir');
    const lower = option(m, 'lowerdir');
    if (m.type === 'overlay' && upper && !readonly) {
      return {
        dir: upper,
        overlayUpper: true,
        lowerDirs: lower ? lower.split(':') : [],
        release: () => undefined,
      };
    }
    if (isBind(m) && path.isAbsolute(m.source)) return { dir: m.source, release: () => undefined };
  }
  fs.mkdirSync(workRoot, { recursive: true, mode: 0o700 });
  const dir = fs.mkdtempSync(path.join(workRoot, 'mount-'));
  const ms = readonly
    ? mounts.map((m) => ({
        ...m,
        options: [...m.options.filter((o) => o !== 'rw'), 'ro'],
      }))
    : mounts;
  try {
    mountAll(ms, dir);
  } catch (err) {
    fs.rmdirSync(dir);
    throw err;
  }
  return {
    dir,
    release: () => {
      unmountAll(dir);
      fs.rmdirSync(dir);
    },
  };
}

function checkLayerDescriptor(d: PbDescriptor | undefined): PbDescriptor {
  if (!d) throw errInvalidArgument('diff descriptor must be set');
  try {
    parseDigest(d.digest);
  } catch (err) {
    throw errInvalidArgument(`diff descriptor: ${(err as Error).message}`);
  }
  const compression = layerCompression(d.mediaType);
  if (compression === undefined)
    throw errNotImplemented(`unsupported diff media type ${JSON.stringify(d.mediaType)}`);
  if (compression === 'zstd') throw errNotImplemented('zstd-compressed layers');
  return d;
}

export class DiffLocal implements LocalServiceOf<DiffService> {
  constructor(
    private readonly content: ContentMetadataStore,
    /** Private directory for temporary mount points. */
    private readonly workRoot: string,
  ) {}

  async apply(req: ApplyRequest, ctx: CallContext): Promise<ApplyResponse> {
    const desc = checkLayerDescriptor(req.diff);
    const info = await this.content.info(ctx.namespace, desc.digest);
    if (desc.size > 0 && info.size !== desc.size)
      throw new BerthError(
        'FailedPrecondition',
        `layer ${desc.digest}: descriptor size ${desc.size} does not match stored size ${info.size}: failed precondition`,
      );
    const { algorithm } = parseDigest(desc.digest);
    const blobHash = createHash(algorithm);
    const content = this.content;
    const ns = ctx.namespace;
    async function* blob(): AsyncGenerator<Buffer> {
      for await (const chunk of content.read(ns, desc.digest)) {
        blobHash.update(chunk.data);
        yield chunk.data;
      }
    }
    const target = targetFor(req.mounts, this.workRoot, false);
    let result: ApplyResult;
    try {
      result = await applyLayer(target.dir, blob(), {
        overlayUpper: target.overlayUpper,
        lowerDirs: target.lowerDirs,
        signal: ctx.signal,
      });
    } finally {
      target.release();
    }
    // The stored blob was verified when it was written; this catches disk corruption since.
    const actual = `${algorithm}:${blobHash.digest('hex')}`;
    if (actual !== desc.digest)
      throw new BerthError(
        'DataLoss',
        `layer ${desc.digest}: stored content hashes to ${actual}: data loss`,
      );
    return {
      applied: {
        mediaType: MediaType.OCILayer,
        digest: result.diffId,
        size: result.size,
        annotations: {},
      },
    };
  }

  async diff(req: DiffRequest, ctx: CallContext): Promise<DiffResponse> {
    const mediaType = req.mediaType || MediaType.OCILayerGzip;
    const compression = layerCompression(mediaType);
    if (compression === undefined || compression === 'zstd')
      throw errNotImplemented(`unsupported diff media type ${JSON.stringify(mediaType)}`);
    if (req.right.length === 0) throw errInvalidArgument('right mounts must not be empty');
    const ref = req.ref || `diff-${randomBytes(8).toString('hex')}`;
    const lower = req.left.length ? targetFor(req.left, this.workRoot, true) : undefined;
    try {
      const upper = targetFor(req.right, this.workRoot, true);
      try {
        const w = await this.content.writer(ctx.namespace, ref, { lease: ctx.lease });
        try {
          const sink = new Writable({
            write(chunk: Buffer, _enc, cb) {
              w.write(chunk).then(() => cb(), cb);
            },
          });
          const r = await writeDiff(lower?.dir ?? null, upper.dir, sink, {
            compression,
            signal: ctx.signal,
          });
          const labels = { ...(req.labels ?? {}), [Label.Uncompressed]: r.diffId };
          try {
            await w.commit(r.size, r.digest, labels);
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
          }
          return { diff: { mediaType, digest: r.digest, size: r.size, annotations: {} } };
        } finally {
          await w.close();
        }
      } finally {
        upper.release();
      }
    } finally {
      lower?.release();
    }
  }
}
