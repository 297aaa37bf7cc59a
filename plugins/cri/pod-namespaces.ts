// The namespaces a pod's containers join. A pod with an infra (pause)
// container shares the pause process's; a pod without one (the default when
// its containers do not share a PID namespace, as CRI-O's drop_infra_ctr) has
// its IPC and UTS namespaces pinned as files under its directory, beside the
// network namespace pinned under `<state>/netns`. Bind mounts, not a process,
// hold them, so they outlive daemon and shim restarts the same way.

import fs from 'node:fs/promises';
import path from 'node:path';
import { errFailedPrecondition, errInternal } from '../../core/errors/catalogue.js';
import { NamespaceMode, type PodSandboxConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { pinPodNamespaces } from '../../native/index.js';
import type { CriConfig } from './config.js';
import { isPinnedNamespace, unpinNamespaceFile } from './netns.js';
import type { SandboxRecord } from './store.js';

/** Pinning of infra-less pods' namespaces: this file's functions, or fakes in tests. */
export interface PodNamespacePins {
  pin(o: PinOptions): Promise<{ ipc?: string; uts?: string }>;
  unpin(sb: SandboxRecord): Promise<void>;
  inPlace(sb: SandboxRecord): Promise<boolean>;
}

/** Namespace files a container of the pod joins; absent: the host's, or (pid) none shared. */
export interface SandboxNamespaces {
  net?: string;
  ipc?: string;
  uts?: string;
  pid?: string;
}

/**
 * Whether a new pod runs without an infra container: only one whose containers
 * share a PID namespace needs it. Unset is POD (the enum's zero), as the kubelet
 * sends CONTAINER unless the pod sets shareProcessNamespace.
 */
export function runsWithoutInfra(cfg: CriConfig, config: PodSandboxConfig): boolean {
  const pid = config.linux?.securityContext?.namespaceOptions?.pid ?? NamespaceMode.POD;
  return cfg.drop_infra_ctr && pid !== NamespaceMode.POD;
}

/** True for a pod whose namespaces are pinned files (records from before the option lack them). */
export function isInfraless(sb: SandboxRecord): boolean {
  return sb.pinnedNs !== undefined;
}

/** What a container of `sb` joins. */
export function sandboxNamespaces(sb: SandboxRecord): SandboxNamespaces {
  if (sb.pinnedNs) return { net: sb.netnsPath, ...sb.pinnedNs };
  if (!sb.pid) throw errFailedPrecondition(`pod sandbox ${sb.id} has no running infra container`);
  const proc = (ns: string) => `/proc/${sb.pid}/ns/${ns}`;
  return { net: proc('net'), ipc: proc('ipc'), uts: proc('uts'), pid: proc('pid') };
}

export interface PinOptions {
  /** The pod's directory; the pins go in `<dir>/ns`. */
  dir: string;
  netnsPath?: string;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostname: string;
  /** Already checked against the namespaces the pod has (see checkSysctls). */
  sysctls: Record<string, string>;
}

/**
 * New IPC (unless host IPC) and UTS (unless host network) namespaces for the
 * pod, with its hostname and sysctls applied, pinned under `<dir>/ns`.
 */
export async function pinSandboxNamespaces(o: PinOptions): Promise<{ ipc?: string; uts?: string }> {
  const nsDir = path.join(o.dir, 'ns');
  await fs.mkdir(nsDir, { recursive: true, mode: 0o700 });
  const pins = {
    ipc: o.hostIpc ? undefined : path.join(nsDir, 'ipc'),
    uts: o.hostNetwork ? undefined : path.join(nsDir, 'uts'),
  };
  for (const f of [pins.ipc, pins.uts]) if (f) await fs.writeFile(f, '', { flag: 'wx' });
  try {
    await pinPodNamespaces({
      netns: o.netnsPath,
      ipcTarget: pins.ipc,
      utsTarget: pins.uts,
      hostname: o.hostNetwork ? undefined : o.hostname || undefined,
      sysctls: o.sysctls,
    });
  } catch (err) {
    await fs.rm(nsDir, { recursive: true, force: true });
    throw errInternal(
      `pinning the namespaces of pod ${path.basename(o.dir)}: ${(err as Error).message}`,
    );
  }
  return pins;
}

/** Unpins a pod's IPC and UTS namespaces; idempotent. */
export async function unpinSandboxNamespaces(sb: SandboxRecord): Promise<void> {
  for (const f of [sb.pinnedNs?.ipc, sb.pinnedNs?.uts]) if (f) await unpinNamespaceFile(f);
}

/** Whether every pinned namespace of an infra-less pod is still in place (after a restart). */
export async function pinsInPlace(sb: SandboxRecord): Promise<boolean> {
  const files = [sb.netnsPath, sb.pinnedNs?.ipc, sb.pinnedNs?.uts].filter((f) => f !== undefined);
  for (const f of files) if (!(await isPinnedNamespace(f))) return false;
  return true;
}

const pinnedNamespaceFiles: PodNamespacePins = {
  pin: pinSandboxNamespaces,
  unpin: unpinSandboxNamespaces,
  inPlace: pinsInPlace,
};

/** The pins a runtime uses: its own (tests) or this file's. */
export function podNamespacePins(d: { podNamespaces?: PodNamespacePins }): PodNamespacePins {
  return d.podNamespaces ?? pinnedNamespaceFiles;
}
