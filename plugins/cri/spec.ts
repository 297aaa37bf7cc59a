// OCI specs for pause containers and app containers from CRI requests.

import fs from 'node:fs';
import path from 'node:path';
import {
  errFailedPrecondition,
  errInvalidArgument,
  errNotImplemented,
  errNotFound,
} from '../../core/errors/catalogue.js';
import {
  type ContainerConfig,
  type LinuxContainerResources,
  MountPropagation,
  NamespaceMode,
  type PodSandboxConfig,
} from '../../api/gen/cri/runtime/v1/api.js';
import {
  type LinuxDevice,
  type Mount,
  type ResolvedUser,
  type Spec,
  type SpecOpt,
  defaultSpec,
  generateSpec,
  mergeEnv,
  withAnnotations,
  withCgroupsPath,
  withDevices,
  withImageConfig,
  withMaskedPaths,
  withNamespacePath,
  withNoNewPrivileges,
  withOOMScoreAdj,
  withPrivileged,
  withReadonlyPaths,
  withResolvedUser,
  withSeccompProfile,
  withSysctls,
  withoutNamespace,
  withNamespace,
  currentBoundingCapabilities,
} from '../../core/oci/index.js';
import { hostCgroupControllers } from './cgroup-controllers.js';
import type { CriConfig } from './config.js';
import type { CriImage } from './image-index.js';
import type { SandboxNamespaces } from './pod-namespaces.js';
import { clampOomScoreAdj, seccompFor, withCriCapabilities } from './security.js';

export const CRI_NAMESPACE = 'k8s.io';
export const ANN = {
  containerType: 'io.kubernetes.cri.container-type',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  sandboxLogDir: 'io.kubernetes.cri.sandbox-log-directory',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

/** Pause containers get -998 so the OOM killer takes them last (clamped where not permitted). */
export const SANDBOX_OOM_SCORE_ADJ = -998;

function cgroupsPath(parent: string | undefined, id: string): string {
  return parent ? path.join(parent, id) : path.join('/', CRI_NAMESPACE, id);
}

/** Sysctls in a namespace the pod does not own would change the host. */
/** Refuses sysctls of a namespace the pod shares with the host. */
export function checkSysctls(
  sysctls: Record<string, string>,
  hostNet: boolean,
  hostIpc: boolean,
): void {
  for (const k of Object.keys(sysctls)) {
    if (hostNet && k.startsWith('net.')) {
      throw errInvalidArgument(`sysctl ${k} is not allowed with the host network namespace`);
    }
    if (
      hostIpc &&
      (k.startsWith('kernel.shm') ||
        k.startsWith('kernel.msg') ||
        k.startsWith('kernel.sem') ||
        k.startsWith('fs.mqueue.'))
    ) {
      throw errInvalidArgument(`sysctl ${k} is not allowed with the host IPC namespace`);
    }
  }
}

export interface SandboxSpecInput {
  id: string;
  config: PodSandboxConfig;
  image: CriImage;
  netnsPath?: string;
  shmPath?: string;
}

export function sandboxSpec(i: SandboxSpecInput): Spec {
  const c = i.config;
  const linux = c.linux;
  const sc = linux?.securityContext;
  const ns = sc?.namespaceOptions;
  const hostNet = ns?.network === NamespaceMode.NODE;
  const hostIpc = ns?.ipc === NamespaceMode.NODE;
  const hostPid = ns?.pid === NamespaceMode.NODE;
  // Checked against the pod's namespaces (checkSysctls) when RunPodSandbox began.
  const sysctls = linux?.sysctls ?? {};
  const opts: SpecOpt[] = [
    withImageConfig({ ...i.image.config, User: '' }),
    withCgroupsPath(cgroupsPath(linux?.cgroupParent, i.id)),
    withOOMScoreAdj(clampOomScoreAdj(SANDBOX_OOM_SCORE_ADJ)),
    withSysctls(sysctls),
    withAnnotations({
      [ANN.containerType]: 'sandbox',
      [ANN.sandboxId]: i.id,
      [ANN.sandboxName]: c.metadata?.name ?? '',
      [ANN.sandboxNamespace]: c.metadata?.namespace ?? '',
      [ANN.sandboxUid]: c.metadata?.uid ?? '',
      [ANN.sandboxLogDir]: c.logDirectory,
    }),
    (s) => {
      s.hostname = hostNet ? undefined : c.hostname || undefined;
      s.root = { path: 'rootfs', readonly: true };
    },
    hostNet ? withoutNamespace('network') : withNamespacePath('network', i.netnsPath ?? ''),
    hostNet ? withoutNamespace('uts') : withNamespace('uts'),
    hostIpc ? withoutNamespace('ipc') : withNamespace('ipc'),
    hostPid ? withoutNamespace('pid') : withNamespace('pid'),
  ];
  if (sc?.runAsUser) {
    const gid = Number(sc.runAsGroup?.value ?? 0n);
    opts.push(
      withResolvedUser({
        uid: Number(sc.runAsUser.value),
        gid,
        additionalGids: [gid, ...sc.supplementalGroups.map(Number)],
      }),
    );
  }
  if (sc?.privileged) opts.push(withPrivileged());
  else opts.push(withSeccompProfile(seccompFor(sc?.seccomp, sc?.seccompProfilePath ?? '', false)));
  if (!hostIpc && i.shmPath) {
    opts.push((s) => {
      s.mounts = (s.mounts ?? []).filter((m) => m.destination !== '/dev/shm');
      s.mounts.push({
        destination: '/dev/shm',
        type: 'bind',
        source: i.shmPath,
        options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'],
      });
    });
  }
  return generateSpec(opts, defaultSpec({ id: i.id, namespace: CRI_NAMESPACE }));
}

export interface ContainerSpecInput {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  sandboxConfig: PodSandboxConfig;
  image: CriImage;
  imageName: string;
  /** The pod's namespaces the container joins (the pause process's, or pinned files). */
  sandboxNs: SandboxNamespaces;
  /** pid of the TARGET container for the TARGET pid mode. */
  targetPid?: number;
  user: ResolvedUser;
  /** Per-pod files: hostname, hosts, resolv.conf; shm directory. */
  sandboxDir: string;
  shmPath?: string;
  /** From hugepageHandling: the plugin's hugetlb settings against the host. */
  hugepages: HugepageHandling;
  /** What `add_capabilities: ["ALL"]` and privileged grant: berthd's own bounding set by default. */
  heldCapabilities?: readonly string[];
}

/** Entrypoint/cmd rules of the CRI: command replaces entrypoint (and cmd), args replace cmd. */
export function processArgs(config: ContainerConfig, image: CriImage['config']): string[] {
  const entry = image.Entrypoint ?? [];
  const cmd = image.Cmd ?? [];
  if (config.command.length > 0) return [...config.command, ...config.args];
  if (config.args.length > 0) return [...entry, ...config.args];
  return [...entry, ...cmd];
}

function propagationOptions(p: MountPropagation): { opts: string[]; rootfs?: string } {
  switch (p) {
    case MountPropagation.PROPAGATION_HOST_TO_CONTAINER:
      return { opts: ['rslave'], rootfs: 'rslave' };
    case MountPropagation.PROPAGATION_BIDIRECTIONAL:
      return { opts: ['rshared'], rootfs: 'rshared' };
    default:
      return { opts: ['rprivate'] };
  }
}

function hostDevice(hostPath: string, containerPath: string): LinuxDevice {
  let st: fs.Stats;
  try {
    st = fs.statSync(hostPath);
  } catch {
    throw errNotFound(`device ${hostPath} does not exist`);
  }
  const type = st.isBlockDevice() ? 'b' : st.isCharacterDevice() ? 'c' : st.isFIFO() ? 'p' : '';
  if (!type) throw errInvalidArgument(`${hostPath} is not a device`);
  const rdev = st.rdev;
  return {
    path: containerPath || hostPath,
    type,
    major: Number((BigInt(rdev) >> 8n) & 0xfffn),
    minor: Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & 0xfff00n)),
    fileMode: st.mode & 0o777,
    uid: st.uid,
    gid: st.gid,
  };
}

/** What becomes of a request's hugepage limits: set, left out, or refused. */
export type HugepageHandling = 'apply' | 'drop' | 'reject';

/**
 * containerd's rules: disable_hugetlb_controller always leaves them out; a host
 * without the controller (runc would fail the start) leaves them out when
 * tolerate_missing_hugetlb_controller is set and refuses them otherwise.
 */
export function hugepageHandling(
  cfg: Pick<CriConfig, 'disable_hugetlb_controller' | 'tolerate_missing_hugetlb_controller'>,
  controllers: ReadonlySet<string> = hostCgroupControllers(),
): HugepageHandling {
  if (cfg.disable_hugetlb_controller) return 'drop';
  if (controllers.has('hugetlb')) return 'apply';
  return cfg.tolerate_missing_hugetlb_controller ? 'drop' : 'reject';
}

export function applyResources(
  r: LinuxContainerResources | undefined,
  hugepages: HugepageHandling,
): SpecOpt {
  return (s) => {
    if (!r) return;
    s.linux ??= {};
    const res = (s.linux.resources ??= {});
    res.cpu ??= {};
    if (r.cpuShares) res.cpu.shares = Number(r.cpuShares);
    if (r.cpuQuota) res.cpu.quota = Number(r.cpuQuota);
    if (r.cpuPeriod) res.cpu.period = Number(r.cpuPeriod);
    if (r.cpusetCpus) res.cpu.cpus = r.cpusetCpus;
    if (r.cpusetMems) res.cpu.mems = r.cpusetMems;
    if (r.memoryLimitInBytes) {
      res.memory ??= {};
      res.memory.limit = Number(r.memoryLimitInBytes);
      if (r.memorySwapLimitInBytes) res.memory.swap = Number(r.memorySwapLimitInBytes);
    }
    if (r.hugepageLimits.length > 0 && hugepages === 'reject') {
      throw errFailedPrecondition(
        'linux.resources.hugepage_limits: this host has no hugetlb cgroup controller ' +
          '(set tolerate_missing_hugetlb_controller to leave the limits out)',
      );
    }
    if (r.hugepageLimits.length > 0 && hugepages === 'apply') {
      res.hugepageLimits = r.hugepageLimits.map((h) => ({
        pageSize: h.pageSize,
        limit: Number(h.limit),
      }));
    }
    if (Object.keys(r.unified).length > 0) res.unified = { ...r.unified };
    if (r.oomScoreAdj) withOOMScoreAdj(clampOomScoreAdj(Number(r.oomScoreAdj)))(s);
  };
}

export function containerSpec(i: ContainerSpecInput): Spec {
  const c = i.config;
  const sc = c.linux?.securityContext;
  const podNs = i.sandboxConfig.linux?.securityContext?.namespaceOptions;
  const nsOpts = sc?.namespaceOptions ?? podNs;
  const hostNet = (podNs?.network ?? nsOpts?.network) === NamespaceMode.NODE;
  const hostIpc = (podNs?.ipc ?? nsOpts?.ipc) === NamespaceMode.NODE;
  const pidMode = nsOpts?.pid ?? NamespaceMode.POD;
  const args = processArgs(c, i.image.config);
  if (args.length === 0) {
    throw errInvalidArgument(
      'config.command: no command given and the image has no entrypoint or cmd',
    );
  }
  const proc = (p: number, ns: string) => `/proc/${p}/ns/${ns}`;
  const joined = (ns: keyof SandboxNamespaces): string => {
    const file = i.sandboxNs[ns];
    if (!file) {
      // Only a pod without an infra container lacks one: it was made for unshared PIDs.
      throw errFailedPrecondition(
        `the pod sandbox has no shared ${ns} namespace (it runs without an infra container)`,
      );
    }
    return file;
  };
  const privileged = sc?.privileged ?? false;
  if (privileged && !i.sandboxConfig.linux?.securityContext?.privileged) {
    throw errInvalidArgument(
      'config.linux.security_context.privileged: the pod sandbox is not privileged',
    );
  }

  const mounts: Mount[] = [];
  let rootfsPropagation: string | undefined;
  const destinations = new Set<string>();
  for (const m of c.mounts) {
    if (!m.containerPath || !path.isAbsolute(m.containerPath)) {
      throw errInvalidArgument(
        `mounts: container_path ${JSON.stringify(m.containerPath)} must be absolute`,
      );
    }
    if (m.image) {
      // Kubernetes image volumes: a runtime without them answers UNIMPLEMENTED,
      // which the kubelet (and critest) take as "not supported here".
      throw errNotImplemented(`mounts ${m.containerPath}: image volumes are not supported`);
    }
    let source: string;
    try {
      source = fs.realpathSync(m.hostPath);
    } catch {
      throw errInvalidArgument(
        `mounts ${m.containerPath}: host_path ${JSON.stringify(m.hostPath)} does not exist`,
      );
    }
    const prop = propagationOptions(m.propagation);
    if (prop.rootfs && rootfsPropagation !== 'rshared') rootfsPropagation = prop.rootfs;
    mounts.push({
      destination: m.containerPath,
      type: 'bind',
      source,
      options: ['rbind', ...prop.opts, m.readonly ? 'ro' : 'rw'],
    });
    destinations.add(path.normalize(m.containerPath));
  }
  const podFile = (name: string, dest: string, ro: boolean) => {
    if (destinations.has(dest)) return;
    const src = path.join(i.sandboxDir, name);
    if (!fs.existsSync(src)) return;
    mounts.push({
      destination: dest,
      type: 'bind',
      source: src,
      options: ['rbind', 'rprivate', ro ? 'ro' : 'rw'],
    });
  };
  podFile('hostname', '/etc/hostname', false);
  podFile('hosts', '/etc/hosts', false);
  podFile('resolv.conf', '/etc/resolv.conf', false);
  if (!destinations.has('/dev/shm')) {
    const shm = hostIpc ? '/dev/shm' : i.shmPath;
    if (shm)
      mounts.push({
        destination: '/dev/shm',
        type: 'bind',
        source: shm,
        options: ['rbind', 'rprivate', 'rw', 'nosuid', 'nodev', 'noexec'],
      });
  }

  const env = mergeEnv(
    i.image.config.Env && i.image.config.Env.length > 0 ? i.image.config.Env : [],
    c.envs.map((e) => `${e.key}=${e.value}`),
  );
  const sandboxMeta = i.sandboxConfig.metadata;
  const opts: SpecOpt[] = [
    withImageConfig({ ...i.image.config, User: '' }),
    (s) => {
      s.process!.args = args;
      s.process!.env = mergeEnv(s.process!.env ?? [], env);
      if (c.workingDir) s.process!.cwd = c.workingDir;
      s.process!.terminal = c.tty;
      s.root = { path: 'rootfs', readonly: sc?.readonlyRootfs ?? false };
      s.mounts = [
        ...(s.mounts ?? []).filter((m) => !mounts.some((x) => x.destination === m.destination)),
        ...mounts.sort((a, b) => a.destination.split('/').length - b.destination.split('/').length),
      ];
      if (rootfsPropagation) s.linux!.rootfsPropagation = rootfsPropagation;
    },
    withResolvedUser(i.user),
    withCgroupsPath(cgroupsPath(i.sandboxConfig.linux?.cgroupParent, i.id)),
    withAnnotations({
      ...c.annotations,
      [ANN.containerType]: 'container',
      [ANN.sandboxId]: i.sandboxId,
      [ANN.sandboxName]: sandboxMeta?.name ?? '',
      [ANN.sandboxNamespace]: sandboxMeta?.namespace ?? '',
      [ANN.sandboxUid]: sandboxMeta?.uid ?? '',
      [ANN.containerName]: c.metadata?.name ?? '',
      [ANN.imageName]: i.imageName,
    }),
    hostNet ? withoutNamespace('network') : withNamespacePath('network', joined('net')),
    hostIpc ? withoutNamespace('ipc') : withNamespacePath('ipc', joined('ipc')),
    hostNet ? withoutNamespace('uts') : withNamespacePath('uts', joined('uts')),
    pidMode === NamespaceMode.NODE
      ? withoutNamespace('pid')
      : pidMode === NamespaceMode.POD
        ? withNamespacePath('pid', joined('pid'))
        : pidMode === NamespaceMode.TARGET
          ? withNamespacePath('pid', proc(i.targetPid ?? 0, 'pid'))
          : withNamespace('pid'),
    applyResources(c.linux?.resources, i.hugepages),
  ];
  const held = i.heldCapabilities ?? currentBoundingCapabilities();
  if (privileged) {
    opts.push(withPrivileged(held));
  } else {
    if (sc?.capabilities) opts.push(withCriCapabilities(sc.capabilities, held));
    if (sc?.maskedPaths.length) opts.push(withMaskedPaths(sc.maskedPaths));
    if (sc?.readonlyPaths.length) opts.push(withReadonlyPaths(sc.readonlyPaths));
    opts.push(withSeccompProfile(seccompFor(sc?.seccomp, sc?.seccompProfilePath ?? '', false)));
  }
  opts.push(withNoNewPrivileges(sc?.noNewPrivs ?? false));
  if (c.devices.length > 0) {
    for (const d of c.devices) {
      opts.push(withDevices([hostDevice(d.hostPath, d.containerPath)], d.permissions || 'rwm'));
    }
  }
  return generateSpec(opts, defaultSpec({ id: i.id, namespace: CRI_NAMESPACE }));
}
