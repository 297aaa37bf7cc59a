// A task's bundle, laid out as containerd's runtime v2 does:
//   <state>/<ns>/<id>/            0700, the shim's working directory
//     config.json                 the container's OCI spec
//     rootfs/                     where the shim mounts the rootfs mounts
//     work -> <root>/<ns>/<id>    persistent scratch space for the shim
//     log                         FIFO the shim writes its log to
//     address                     the shim's ttrpc address (written by the shim, and by us)
//     shim-binary-path            the runtime that started the shim, for restarts

import fs from 'node:fs/promises';
import path from 'node:path';
import { BerthError, errAlreadyExists } from '../errors/catalogue.js';
import { unmountAll } from '../mount/index.js';
import { S_IF, mknod } from '../../native/index.js';

export const ADDRESS_FILE = 'address';
export const SHIM_BINARY_PATH_FILE = 'shim-binary-path';
export const LOG_FIFO = 'log';

export interface BundleDirs {
  /** The runtime plugin's state directory (volatile). */
  state: string;
  /** The runtime plugin's root directory (persistent). */
  root: string;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class Bundle {
  readonly path: string;
  readonly workDir: string;

  constructor(
    dirs: BundleDirs,
    readonly namespace: string,
    readonly id: string,
  ) {
    this.path = path.join(dirs.state, namespace, id);
    this.workDir = path.join(dirs.root, namespace, id);
  }

  get rootfs(): string {
    return path.join(this.path, 'rootfs');
  }

  get logFifo(): string {
    return path.join(this.path, LOG_FIFO);
  }

  /**
   * Creates the bundle. The bundle directory is the claim on the id: a second
   * create for the same task fails with AlreadyExists.
   */
  static async create(
    dirs: BundleDirs,
    namespace: string,
    id: string,
    spec: Uint8Array | undefined,
  ): Promise<Bundle> {
    const b = new Bundle(dirs, namespace, id);
    await fs.mkdir(path.dirname(b.path), { recursive: true, mode: 0o711 });
    await fs.mkdir(path.dirname(b.workDir), { recursive: true, mode: 0o711 });
    try {
      await fs.mkdir(b.path, { mode: 0o700 });
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') throw errAlreadyExists(`task ${id}`);
      throw err;
    }
    try {
      await fs.mkdir(b.rootfs, { mode: 0o711 });
      // A work directory left behind by an earlier task of the same id starts over.
      await fs.rm(b.workDir, { recursive: true, force: true });
      await fs.mkdir(b.workDir, { mode: 0o711 });
      await fs.symlink(b.workDir, path.join(b.path, 'work'));
      if (spec) await fs.writeFile(path.join(b.path, 'config.json'), spec, { mode: 0o600 });
      mknod(b.logFifo, S_IF.FIFO | 0o600);
    } catch (err) {
      await b.delete().catch(() => {});
      throw err;
    }
    return b;
  }

  async readAddress(): Promise<string | undefined> {
    return this.readOptional(ADDRESS_FILE);
  }

  /** Atomic (temp file + rename), as the address is read back after a restart. */
  async writeAddress(address: string): Promise<void> {
    const tmp = path.join(this.path, `.${ADDRESS_FILE}.${process.pid}`);
    await fs.writeFile(tmp, address, { mode: 0o600 });
    await fs.rename(tmp, path.join(this.path, ADDRESS_FILE));
  }

  async readShimBinaryPath(): Promise<string | undefined> {
    return this.readOptional(SHIM_BINARY_PATH_FILE);
  }

  async writeShimBinaryPath(p: string): Promise<void> {
    await fs.writeFile(path.join(this.path, SHIM_BINARY_PATH_FILE), p, { mode: 0o600 });
  }

  /** Ensures the log FIFO exists (a bundle from an older layout may lack it). */
  async ensureLogFifo(): Promise<void> {
    try {
      await fs.lstat(this.logFifo);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
      mknod(this.logFifo, S_IF.FIFO | 0o600);
    }
  }

  private async readOptional(name: string): Promise<string | undefined> {
    try {
      const v = (await fs.readFile(path.join(this.path, name), 'utf8')).trim();
      return v === '' ? undefined : v;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Removes the bundle and its work directory. The rootfs is unmounted first and
   * removed with rmdir only: a recursive delete through a mount that is still
   * there would destroy the container's filesystem, so that case is an error.
   */
  async delete(): Promise<void> {
    unmountAll(this.rootfs);
    try {
      await fs.rmdir(this.rootfs);
    } catch (err) {
      const code = errnoOf(err);
      if (code !== 'ENOENT') {
        throw new BerthError(
          'FailedPrecondition',
          `bundle ${this.path}: rootfs cannot be removed (${code ?? String(err)})`,
          { cause: err },
        );
      }
    }
    await fs.rm(this.path, { recursive: true, force: true });
    await fs.rm(this.workDir, { recursive: true, force: true });
  }
}
