// CheckpointContainer: a running container dumped with CRIU (runc checkpoint,
// through the pod's shim, the container left running) into a tar archive at
// the requested location, laid out as CRI-O's and containerd's archives are so
// that checkpointctl can read it:
//
//   checkpoint/     CRIU's image files
//   config.dump     id, name, image, runtime, creation and checkpoint times
//   spec.dump       the container's OCI runtime spec
//   status.dump     the CRI ContainerStatus (proto JSON)
//   dump.log        CRIU's log; stats-dump, its statistics (when written)
//   container.log   the container's log so far, when it has one
//
// The writable layer's changes (rootfs-diff.tar) are not archived, and
// restoring (CreateContainer from an archive) is not implemented.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  BerthError,
  errFailedPrecondition,
  errInvalidArgument,
  errNotFound,
  isBerthError,
} from '../../core/errors/catalogue.js';
import { CheckpointOptions } from '../../api/gen/containerd/runc/v1/oci.js';
import { ContainerStatus } from '../../api/gen/cri/runtime/v1/api.js';
import { packAny } from '../../core/protobuf/typeurl.js';
import { tarDirectory } from '../../core/diff/diff.js';
import { criuErrors, criuUnavailableReason } from './criu.js';
import { CRI_NAMESPACE } from './image-store.js';
import type { CriRuntime } from './runtime.js';
import type { ContainerRecord } from './store.js';

const CHECKPOINT_DIR = 'checkpoint';
/** What CRIU leaves in its work directory, copied into the archive when present. */
const CRIU_FILES = ['dump.log', 'stats-dump'];

export interface CheckpointRequest {
  location: string;
  /** Seconds; 0 leaves the time to the caller's own deadline. */
  timeoutS: number;
  signal?: AbortSignal;
}

export async function checkpointContainer(
  rt: CriRuntime,
  c: ContainerRecord,
  status: () => ContainerStatus,
  req: CheckpointRequest,
): Promise<void> {
  const location = await checkLocation(req.location);
  await rt.lock.run(c.id, async () => {
    if (rt.d.store.containers.find(c.id) !== c) throw errNotFound(`container ${c.id}`);
    if (c.state !== 'running') {
      throw errFailedPrecondition(
        `container ${c.id} is ${c.state}; only running containers can be checkpointed`,
      );
    }
    const why = await criuUnavailableReason();
    if (why) throw errFailedPrecondition(`cannot checkpoint container ${c.id}: ${why}`);

    const parent = path.join(rt.d.stateDir, 'checkpoints');
    await fsp.mkdir(parent, { recursive: true, mode: 0o700 });
    const dir = await fsp.mkdtemp(path.join(parent, `${c.id.slice(0, 12)}-`));
    try {
      const images = path.join(dir, 'archive', CHECKPOINT_DIR);
      const work = path.join(dir, 'work');
      await fsp.mkdir(images, { recursive: true });
      await fsp.mkdir(work);
      const options = packAny('containerd.runc.v1.CheckpointOptions', CheckpointOptions, {
        ...CheckpointOptions.fromJSON({}),
        imagePath: images,
        workPath: work,
      });
      await rt.d.tasks
        .get(CRI_NAMESPACE, c.id)
        .checkpoint(images, options, {
          signal: req.signal,
          timeoutMs: req.timeoutS > 0 ? req.timeoutS * 1000 : undefined,
        })
        .catch((err: unknown) => explainDumpFailure(err, work));
      await writeMetadata(rt, c, status(), path.join(dir, 'archive'), work);
      await writeArchive(path.join(dir, 'archive'), location);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
}

/** runc only says that CRIU failed; CRIU's log (about to be removed with the work directory) says why. */
async function explainDumpFailure(err: unknown, work: string): Promise<never> {
  const log = await fsp.readFile(path.join(work, 'dump.log'), 'utf8').catch(() => '');
  const why = log && criuErrors(log);
  if (!why || !isBerthError(err)) throw err;
  throw new BerthError(err.code, `${err.message}: ${why}`, { cause: err });
}

/** The archive's path: absolute, in an existing directory, not a directory itself. */
export async function checkLocation(location: string): Promise<string> {
  if (!location) throw errInvalidArgument('location is required');
  if (!path.isAbsolute(location)) throw errInvalidArgument(`location ${location} must be absolute`);
  const dir = await fsp.stat(path.dirname(location)).catch(() => undefined);
  if (!dir?.isDirectory()) {
    throw errInvalidArgument(`location ${location}: its directory does not exist`);
  }
  if ((await fsp.stat(location).catch(() => undefined))?.isDirectory()) {
    throw errInvalidArgument(`location ${location} is a directory`);
  }
  return location;
}

async function writeMetadata(
  rt: CriRuntime,
  c: ContainerRecord,
  status: ContainerStatus,
  out: string,
  work: string,
): Promise<void> {
  const record = await rt.d.containers.get(CRI_NAMESPACE, c.id);
  if (!record.spec) throw errNotFound(`spec of ${c.id}`);
  const json = (name: string, v: unknown) =>
    fsp.writeFile(path.join(out, name), JSON.stringify(v, null, 2), { mode: 0o600 });
  await json('config.dump', {
    id: c.id,
    name: c.name,
    rootfsImage: c.image,
    rootfsImageRef: c.imageRef,
    rootfsImageName: c.image,
    runtime: record.runtime.name,
    createdTime: new Date(c.createdAt / 1e6).toISOString(),
    checkpointedTime: new Date().toISOString(),
  });
  await fsp.writeFile(path.join(out, 'spec.dump'), Buffer.from(record.spec.value), {
    mode: 0o600,
  });
  await json('status.dump', ContainerStatus.toJSON(status));
  for (const f of CRIU_FILES) await copyIfPresent(path.join(work, f), path.join(out, f));
  if (c.logPath) await copyIfPresent(c.logPath, path.join(out, 'container.log'));
}

async function copyIfPresent(from: string, to: string): Promise<void> {
  try {
    await fsp.copyFile(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Tars `dir` to `location` through a temporary file, so a failure never leaves half an archive. */
export async function writeArchive(dir: string, location: string): Promise<void> {
  const tmp = `${location}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await tarDirectory(dir, fs.createWriteStream(tmp, { mode: 0o600 }), { compression: 'none' });
    await fsp.rename(tmp, location);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}
