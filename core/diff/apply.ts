// Applies an OCI layer (tar, optionally gzip) onto a directory, computing the
// layer's diffID from the uncompressed bytes as they stream past.
//
// Metadata syscalls are synchronous on purpose: each is a single short syscall
// and a layer is tens of thousands of them, where a threadpool round trip per
// call would dominate. The event loop still turns between chunks of the
// decompressed stream, so a large layer does not monopolise it.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errCanceled, errInvalidArgument } from '../errors/catalogue.js';
import { S_IF, makedev, mknod } from '../../native/index.js';
import {
  applyFileAttributes,
  applyPathAttributes,
  applySymlinkAttributes,
  entryTimes,
} from './attributes.js';
import { ByteReader } from './byte-reader.js';
import { decompress, type Compression } from './decompress.js';
import { entryError } from './fs-errors.js';
import { RootResolver, cleanComponents, resolveInRoot } from './path-resolve.js';
import type { TarHeader } from './tar-format.js';
import { readTar, type TarEntry } from './tar-reader.js';
import {
  classifyMarker,
  makeOverlayWhiteout,
  markOverlayOpaque,
  pruneLowerContent,
} from './whiteouts.js';

export interface ApplyOptions {
  /**
   * `root` is an overlayfs upperdir: whiteouts become 0/0 character devices and
   * opaque markers the trusted.overlay.opaque xattr, instead of deleting lower
   * content (which is not in `root` at all).
   */
  overlayUpper?: boolean;
  /**
   * In overlay mode, the lower layers' directories (nearest first). A directory
   * the layer needs but does not declare is created in the upperdir with the
   * attributes it has in the nearest lower, so it does not change in the merged view.
   */
  lowerDirs?: readonly string[];
  signal?: AbortSignal;
}

export interface ApplyResult {
  /** Uncompressed size of the layer in bytes. */
  size: number;
  /** sha256 of the uncompressed layer: the diffID. */
  diffId: string;
  compression: Compression;
}

const O_CREATE_NEW =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/**
 * Streams `tar` onto `root`. Nothing is written outside `root`. On failure the
 * tree is left partially applied; the caller owns cleanup (normally discarding
 * the snapshot being prepared).
 */
export async function applyLayer(
  root: string,
  tar: AsyncIterable<Buffer | Uint8Array>,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  // The root itself is the caller's and trusted; resolve it once so every
  // containment check below compares against its real location.
  const absRoot = fs.existsSync(root) ? fs.realpathSync(root) : path.resolve(root);
  if (!fs.lstatSync(absRoot, { throwIfNoEntry: false })?.isDirectory()) {
    throw errInvalidArgument(`layer target ${JSON.stringify(root)} is not a directory`);
  }

  const hash = createHash('sha256');
  let size = 0;
  const { compression, data } = await decompress(tar);
  const reader = new ByteReader(data, (chunk) => {
    hash.update(chunk);
    size += chunk.length;
  });
  const applier = new LayerApplier(absRoot, opts);
  try {
    for await (const entry of readTar(reader)) {
      if (opts.signal?.aborted) throw errCanceled('applying layer');
      await applier.apply(entry);
    }
    // The diffID covers the whole uncompressed stream, trailing padding included.
    await reader.drain();
    applier.finish();
  } catch (err) {
    await reader.close();
    throw err;
  }
  return { size, diffId: `sha256:${hash.digest('hex')}`, compression };
}

interface DeferredTimes {
  path: string;
  atime: number;
  mtime: number;
}

class LayerApplier {
  private readonly resolver: RootResolver;
  /** Absolute paths this layer created or re-declared; whiteouts and opacity spare them. */
  private readonly fromThisLayer = new Set<string>();
  /** Overlay whiteout devices this layer made (a directory replacing one must be opaque). */
  private readonly whiteoutsMade = new Set<string>();
  /** Directory times are set last: creating their children would change them again. */
  private readonly dirTimes: DeferredTimes[] = [];
  private readonly knownDirs = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly opts: ApplyOptions,
  ) {
    this.resolver = new RootResolver(root);
    this.knownDirs.add(root);
  }

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header;
    try {
      const comps = cleanComponents(h.name);
      // The root's own entry ("./"): its attributes belong to the snapshot, not the layer.
      if (comps.length === 0) return;
      const base = comps[comps.length - 1]!;
      const marker = classifyMarker(base);
      if (marker?.kind === 'meta') return;
      if (marker?.kind === 'opaque') return this.opaque(comps);
      if (marker?.kind === 'whiteout')
        return this.whiteout([...comps.slice(0, -1), marker.target], h);
      await this.entry(comps, entry);
    } catch (err) {
      throw entryError(h.name, err);
    }
  }

  /** Sets the deferred directory times, re-resolving each path in case the tree changed since. */
  finish(): void {
    for (const d of this.dirTimes) {
      const rel = path.relative(this.root, d.path);
      const p = rel === '' ? this.root : resolveInRoot(this.root, rel.split('/'));
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) fs.lutimesSync(p, d.atime, d.mtime);
    }
  }

  private async entry(comps: string[], entry: TarEntry): Promise<void> {
    const h = entry.header;
    const parent = this.resolver.parentOf(comps);
    this.ensureDir(parent);
    const p = path.join(parent, comps[comps.length - 1]!);

    // Resolve a hard link's target before anything at `p` is removed.
    let linkTarget: string | undefined;
    if (h.type === 'link') {
      linkTarget = this.hardlinkTarget(h);
      if (linkTarget === p) {
        this.fromThisLayer.add(p);
        return;
      }
    }

    const existing = fs.lstatSync(p, { throwIfNoEntry: false });
    if (existing && !(existing.isDirectory() && h.type === 'dir')) {
      fs.rmSync(p, { recursive: true, force: true });
      this.resolver.invalidate();
      this.knownDirs.clear();
      this.knownDirs.add(this.root);
    }
    this.fromThisLayer.add(p);
    const replacesWhiteout = this.whiteoutsMade.delete(p);
    const { atime, mtime } = entryTimes(h);

    switch (h.type) {
      case 'file': {
        const fd = fs.openSync(p, O_CREATE_NEW, 0o600);
        try {
          for await (const chunk of entry.body()) writeAll(fd, chunk);
          applyFileAttributes(fd, p, h);
          fs.futimesSync(fd, atime, mtime);
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      case 'dir': {
        if (!existing?.isDirectory()) fs.mkdirSync(p, 0o700);
        applyPathAttributes(p, h);
        // overlay: the layer deleted this path and recreated it as a directory,
        // so the lower directory's children must not show through
        if (replacesWhiteout && this.opts.overlayUpper) markOverlayOpaque(p);
        this.knownDirs.add(p);
        this.dirTimes.push({ path: p, atime, mtime });
        return;
      }
      case 'symlink':
        fs.symlinkSync(h.linkname, p);
        this.resolver.invalidate();
        applySymlinkAttributes(p, h);
        fs.lutimesSync(p, atime, mtime);
        return;
      case 'link':
        fs.linkSync(linkTarget!, p);
        return;
      case 'char':
      case 'block':
      case 'fifo': {
        const kind = h.type === 'char' ? S_IF.CHR : h.type === 'block' ? S_IF.BLK : S_IF.FIFO;
        const dev = h.type === 'fifo' ? 0 : makedev(h.devmajor, h.devminor);
        mknod(p, kind | (h.mode & 0o7777), dev);
        applyPathAttributes(p, h);
        fs.lutimesSync(p, atime, mtime);
        return;
      }
    }
  }

  /** A hard link's target, which must already exist inside the root and not be a directory. */
  private hardlinkTarget(h: TarHeader): string {
    const comps = cleanComponents(h.linkname);
    if (comps.length === 0)
      throw errInvalidArgument(`hard link ${JSON.stringify(h.name)} has no target`);
    const target = this.resolver.entryPath(comps);
    const st = fs.lstatSync(target, { throwIfNoEntry: false });
    if (!st) {
      throw errInvalidArgument(
        `hard link ${JSON.stringify(h.name)} points to ${JSON.stringify(h.linkname)}, which is not in the layer or below it`,
      );
    }
    if (st.isDirectory()) {
      throw errInvalidArgument(
        `hard link ${JSON.stringify(h.name)} points to directory ${JSON.stringify(h.linkname)}`,
      );
    }
    return target;
  }

  private whiteout(comps: string[], h: TarHeader): void {
    const parent = this.resolver.parentOf(comps);
    const p = path.join(parent, comps[comps.length - 1]!);
    // A whiteout only hides lower content; a same-layer file stays (image-spec).
    if (this.fromThisLayer.has(p)) return;
    const existing = fs.lstatSync(p, { throwIfNoEntry: false });
    if (existing) {
      fs.rmSync(p, { recursive: true, force: true });
      this.resolver.invalidate();
      this.knownDirs.clear();
      this.knownDirs.add(this.root);
    }
    if (!this.opts.overlayUpper) return;
    this.ensureDir(parent);
    makeOverlayWhiteout(p, h.uid, h.gid);
    this.whiteoutsMade.add(p);
  }

  private opaque(comps: string[]): void {
    const dir = this.resolver.parentOf(comps);
    if (this.opts.overlayUpper) {
      this.ensureDir(dir);
      markOverlayOpaque(dir);
      return;
    }
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory()) return;
    pruneLowerContent(dir, this.fromThisLayer);
    this.resolver.invalidate();
    this.knownDirs.clear();
    this.knownDirs.add(this.root);
  }

  /**
   * Makes sure `dir` (already resolved inside the root) exists, creating
   * missing components. In overlay mode they take the attributes the same
   * directory has in the nearest lower layer.
   */
  private ensureDir(dir: string): void {
    if (this.knownDirs.has(dir)) return;
    const rel = path.relative(this.root, dir);
    let cur = this.root;
    for (const part of rel.split('/')) {
      cur = path.join(cur, part);
      if (this.knownDirs.has(cur)) continue;
      const st = fs.lstatSync(cur, { throwIfNoEntry: false });
      if (!st) {
        fs.mkdirSync(cur, 0o755);
        this.copyLowerDirAttributes(cur);
      } else if (!st.isDirectory()) {
        // resolution guarantees existing components are directories
        throw errInvalidArgument(
          `${JSON.stringify(path.relative(this.root, cur))} is not a directory`,
        );
      }
      this.knownDirs.add(cur);
    }
  }

  private copyLowerDirAttributes(p: string): void {
    if (!this.opts.overlayUpper || !this.opts.lowerDirs?.length) return;
    const rel = path.relative(this.root, p).split('/');
    for (const lower of this.opts.lowerDirs) {
      const lp = resolveInRoot(lower, rel);
      const st = fs.lstatSync(lp, { throwIfNoEntry: false });
      if (!st) continue;
      if (!st.isDirectory()) return;
      fs.lchownSync(p, st.uid, st.gid);
      fs.chmodSync(p, st.mode & 0o7777);
      this.dirTimes.push({ path: p, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
      return;
    }
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
}
