import { posix as path } from 'node:path';
import { errInvalidArgument } from '../errors/catalogue.js';
import {
  LINUX_CAPABILITIES,
  currentBoundingCapabilities,
  normalizeCapability,
} from './capabilities.js';
import { DEFAULT_UNIX_ENV, mergeEnv } from './env.js';
import type {
  Linux,
  LinuxCapabilities,
  LinuxDevice,
  LinuxNamespaceType,
  LinuxResources,
  LinuxSeccomp,
  Mount,
  Process,
  Spec,
} from './spec-types.js';
import { LINUX_NAMESPACE_TYPES, POSIX_RLIMIT_TYPES } from './spec-types.js';
import { parseNumericId, type ResolvedUser } from './user.js';

/** One change to a spec, applied in order by generateSpec (containerd's SpecOpts). */
export type SpecOpt = (spec: Spec) => void;

/** The image config fields a container spec takes from (OCI image-spec config.md). */
export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
}

// --- section helpers: options work on partial specs, as containerd's do ---

function ensureProcess(s: Spec): Process {
  s.process ??= { user: { uid: 0, gid: 0 }, cwd: '/' };
  return s.process;
}

function ensureLinux(s: Spec): Linux {
  s.linux ??= {};
  return s.linux;
}

function ensureResources(s: Spec): LinuxResources {
  const linux = ensureLinux(s);
  linux.resources ??= {};
  return linux.resources;
}

function ensureCapabilities(s: Spec): LinuxCapabilities {
  const p = ensureProcess(s);
  p.capabilities ??= {};
  return p.capabilities;
}

/** Compose several options into one. */
export function compose(...opts: SpecOpt[]): SpecOpt {
  return (s) => {
    for (const o of opts) o(s);
  };
}

// --- process ---

export function withProcessArgs(...args: string[]): SpecOpt {
  return (s) => {
    ensureProcess(s).args = [...args];
  };
}

/** Merge `KEY=value` entries into the env by key, later wins; `KEY` alone unsets. */
export function withEnv(env: readonly string[]): SpecOpt {
  return (s) => {
    if (env.length === 0) return;
    const p = ensureProcess(s);
    p.env = mergeEnv(p.env ?? [], env);
  };
}

/** Set PATH to containerd's default. */
export const withDefaultPathEnv: SpecOpt = withEnv(DEFAULT_UNIX_ENV);

export function withProcessCwd(cwd: string): SpecOpt {
  return (s) => {
    ensureProcess(s).cwd = cwd;
  };
}

/** Allocate a terminal; TERM=xterm as containerd sets it. */
export function withTTY(size?: { width: number; height: number }): SpecOpt {
  return (s) => {
    const p = ensureProcess(s);
    p.terminal = true;
    if (size) p.consoleSize = { width: size.width, height: size.height };
    p.env = mergeEnv(p.env ?? [], ['TERM=xterm']);
  };
}

export function withHostname(hostname: string): SpecOpt {
  return (s) => {
    s.hostname = hostname;
  };
}

export function withUser(uid: number, gid: number, additionalGids?: readonly number[]): SpecOpt {
  return (s) => {
    for (const id of [uid, gid, ...(additionalGids ?? [])]) {
      if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
        throw errInvalidArgument(`invalid user or group id ${id}`);
      }
    }
    const p = ensureProcess(s);
    p.user = { ...p.user, uid, gid };
    if (additionalGids && additionalGids.length > 0) p.user.additionalGids = [...additionalGids];
    else delete p.user.additionalGids;
  };
}

/** Apply a user resolved against the rootfs with resolveUser. */
export function withResolvedUser(user: ResolvedUser): SpecOpt {
  return withUser(user.uid, user.gid, user.additionalGids);
}

export function withNoNewPrivileges(enabled = true): SpecOpt {
  return (s) => {
    ensureProcess(s).noNewPrivileges = enabled;
  };
}

export function withOOMScoreAdj(score: number): SpecOpt {
  return (s) => {
    if (!Number.isInteger(score) || score < -1000 || score > 1000) {
      throw errInvalidArgument(`oom score adj ${score} outside [-1000, 1000]`);
    }
    ensureProcess(s).oomScoreAdj = score;
  };
}

/** Set one rlimit, replacing any earlier entry of the same type. */
export function withRlimit(type: string, soft: number, hard: number): SpecOpt {
  return (s) => {
    const upper = type.toUpperCase();
    const name = upper.startsWith('RLIMIT_') ? upper : `RLIMIT_${upper}`;
    if (!(POSIX_RLIMIT_TYPES as readonly string[]).includes(name)) {
      throw errInvalidArgument(`unknown rlimit ${JSON.stringify(type)}`);
    }
    nonNegativeInt(`${name} soft limit`, soft);
    nonNegativeInt(`${name} hard limit`, hard);
    if (soft > hard)
      throw errInvalidArgument(`${name}: soft limit ${soft} above hard limit ${hard}`);
    const p = ensureProcess(s);
    const rest = (p.rlimits ?? []).filter((r) => r.type !== name);
    p.rlimits = [...rest, { type: name, hard, soft }];
  };
}

export function withApparmorProfile(profile: string | undefined): SpecOpt {
  return (s) => {
    const p = ensureProcess(s);
    if (profile) p.apparmorProfile = profile;
    else delete p.apparmorProfile;
  };
}

export function withSelinuxLabel(label: string | undefined): SpecOpt {
  return (s) => {
    const p = ensureProcess(s);
    if (label) p.selinuxLabel = label;
    else delete p.selinuxLabel;
  };
}

// --- capabilities ---

function normalizeAll(caps: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of caps) {
    const n = normalizeCapability(c);
    if (n === 'ALL')
      throw errInvalidArgument('"ALL" is only meaningful to add or drop capabilities');
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** Replace bounding, effective and permitted sets with `caps` (names normalised to CAP_*). */
export function withCapabilities(caps: readonly string[]): SpecOpt {
  return (s) => {
    const set = normalizeAll(caps);
    const c = ensureCapabilities(s);
    c.bounding = [...set];
    c.effective = [...set];
    c.permitted = [...set];
  };
}

/** Add capabilities to bounding, effective and permitted; "ALL" adds every known one. */
export function withAddedCapabilities(caps: readonly string[]): SpecOpt {
  return (s) => {
    const names = caps.map(normalizeCapability);
    const add = names.includes('ALL') ? [...LINUX_CAPABILITIES] : names;
    const c = ensureCapabilities(s);
    for (const key of ['bounding', 'effective', 'permitted'] as const) {
      const list = c[key] ?? [];
      for (const cap of add) if (!list.includes(cap)) list.push(cap);
      c[key] = list;
    }
  };
}

/** Drop capabilities from bounding, effective and permitted; "ALL" drops everything. */
export function withDroppedCapabilities(caps: readonly string[]): SpecOpt {
  return (s) => {
    const names = caps.map(normalizeCapability);
    const c = ensureCapabilities(s);
    for (const key of ['bounding', 'effective', 'permitted'] as const) {
      c[key] = names.includes('ALL') ? [] : (c[key] ?? []).filter((cap) => !names.includes(cap));
    }
  };
}

/** Ambient capabilities (also made inheritable), meant for non-root processes. */
export function withAmbientCapabilities(caps: readonly string[]): SpecOpt {
  return (s) => {
    const set = normalizeAll(caps);
    const c = ensureCapabilities(s);
    c.inheritable = [...set];
    c.ambient = [...set];
  };
}

// --- root and mounts ---

export function withRootfs(rootPath: string, readonly = false): SpecOpt {
  return (s) => {
    s.root = { path: rootPath, ...(readonly ? { readonly: true } : {}) };
  };
}

/** A destination compared as a path: "/data/", "/data/." and "/data" are the same. */
function cleanDestination(d: string): string {
  const n = path.normalize(d);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * Append mounts; a mount whose destination is already mounted replaces the earlier
 * one (compared after cleaning the path, so "/data/" replaces "/data").
 */
export function withMounts(mounts: readonly Mount[]): SpecOpt {
  return (s) => {
    const dests = new Set(mounts.map((m) => cleanDestination(m.destination)));
    const kept = (s.mounts ?? []).filter((m) => !dests.has(cleanDestination(m.destination)));
    s.mounts = [...kept, ...mounts.map((m) => structuredClone(m))];
  };
}

/** Remove the mounts at these destinations. */
export function withoutMounts(...destinations: string[]): SpecOpt {
  return (s) => {
    const dests = new Set(destinations.map(cleanDestination));
    s.mounts = (s.mounts ?? []).filter((m) => !dests.has(cleanDestination(m.destination)));
  };
}

// --- namespaces ---

function checkNamespaceType(type: string): asserts type is LinuxNamespaceType {
  if (!(LINUX_NAMESPACE_TYPES as readonly string[]).includes(type)) {
    throw errInvalidArgument(`unknown namespace type ${JSON.stringify(type)}`);
  }
}

/** Create a new namespace of this type (no-op when one is already configured). */
export function withNamespace(type: LinuxNamespaceType): SpecOpt {
  return (s) => {
    checkNamespaceType(type);
    const linux = ensureLinux(s);
    const nss = linux.namespaces ?? [];
    if (!nss.some((n) => n.type === type)) nss.push({ type });
    linux.namespaces = nss;
  };
}

/** Join the namespace at `nsPath` (e.g. /proc/<pid>/ns/net), replacing any entry of this type. */
export function withNamespacePath(type: LinuxNamespaceType, nsPath: string): SpecOpt {
  return (s) => {
    checkNamespaceType(type);
    if (!path.isAbsolute(nsPath))
      throw errInvalidArgument(`namespace path ${JSON.stringify(nsPath)} must be absolute`);
    const linux = ensureLinux(s);
    const nss = linux.namespaces ?? [];
    const at = nss.findIndex((n) => n.type === type);
    if (at === -1) nss.push({ type, path: nsPath });
    else nss[at] = { type, path: nsPath };
    linux.namespaces = nss;
  };
}

/** Drop the namespace of this type, so the container shares the runtime's (the host's). */
export function withoutNamespace(type: LinuxNamespaceType): SpecOpt {
  return (s) => {
    checkNamespaceType(type);
    const linux = ensureLinux(s);
    linux.namespaces = (linux.namespaces ?? []).filter((n) => n.type !== type);
  };
}

/** containerd's name for withoutNamespace: run in the host's namespace of this type. */
export const withHostNamespace = withoutNamespace;

// --- resources ---

export function withMemoryLimit(bytes: number): SpecOpt {
  return (s) => {
    if (!Number.isSafeInteger(bytes) || (bytes < 0 && bytes !== -1)) {
      throw errInvalidArgument(`invalid memory limit ${bytes}`);
    }
    const r = ensureResources(s);
    r.memory = { ...r.memory, limit: bytes };
  };
}

/** Memory+swap limit in bytes (cgroup v1 semantics, as in the spec); -1 is unlimited. */
export function withMemorySwap(bytes: number): SpecOpt {
  return (s) => {
    if (!Number.isSafeInteger(bytes) || (bytes < 0 && bytes !== -1)) {
      throw errInvalidArgument(`invalid memory swap limit ${bytes}`);
    }
    const r = ensureResources(s);
    r.memory = { ...r.memory, swap: bytes };
  };
}

function nonNegativeInt(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw errInvalidArgument(`invalid ${what} ${n}`);
}

export function withCPUShares(shares: number): SpecOpt {
  return (s) => {
    nonNegativeInt('cpu shares', shares);
    const r = ensureResources(s);
    r.cpu = { ...r.cpu, shares };
  };
}

/** CFS quota in microseconds per period; -1 is unlimited. */
export function withCPUQuota(quota: number): SpecOpt {
  return (s) => {
    if (!Number.isSafeInteger(quota) || (quota < 0 && quota !== -1)) {
      throw errInvalidArgument(`invalid cpu quota ${quota}`);
    }
    const r = ensureResources(s);
    r.cpu = { ...r.cpu, quota };
  };
}

export function withCPUPeriod(period: number): SpecOpt {
  return (s) => {
    nonNegativeInt('cpu period', period);
    const r = ensureResources(s);
    r.cpu = { ...r.cpu, period };
  };
}

/** CPUs and (optionally) memory nodes the container may use, in cpuset list syntax ("0-3,6"). */
export function withCpuset(cpus: string, mems?: string): SpecOpt {
  return (s) => {
    const listRe = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
    if (cpus !== '' && !listRe.test(cpus))
      throw errInvalidArgument(`invalid cpuset ${JSON.stringify(cpus)}`);
    if (mems !== undefined && mems !== '' && !listRe.test(mems)) {
      throw errInvalidArgument(`invalid cpuset mems ${JSON.stringify(mems)}`);
    }
    const r = ensureResources(s);
    r.cpu = { ...r.cpu, cpus, ...(mems !== undefined ? { mems } : {}) };
  };
}

/** Maximum number of tasks; 0 or -1 mean unlimited to runc. */
export function withPidsLimit(limit: number): SpecOpt {
  return (s) => {
    if (!Number.isSafeInteger(limit) || limit < -1)
      throw errInvalidArgument(`invalid pids limit ${limit}`);
    ensureResources(s).pids = { limit };
  };
}

/** cgroup v2 unified key/values, merged over existing ones. */
export function withUnifiedResources(unified: Record<string, string>): SpecOpt {
  return (s) => {
    const r = ensureResources(s);
    r.unified = { ...r.unified, ...unified };
  };
}

export function withCgroupsPath(cgroupsPath: string): SpecOpt {
  return (s) => {
    ensureLinux(s).cgroupsPath = cgroupsPath;
  };
}

// --- linux settings ---

/** Merge annotations over existing ones. */
export function withAnnotations(annotations: Record<string, string>): SpecOpt {
  return (s) => {
    s.annotations = { ...s.annotations, ...annotations };
  };
}

/** Merge sysctls over existing ones. */
export function withSysctls(sysctls: Record<string, string>): SpecOpt {
  return (s) => {
    const linux = ensureLinux(s);
    linux.sysctl = { ...linux.sysctl, ...sysctls };
  };
}

export function withMaskedPaths(paths: readonly string[] | undefined): SpecOpt {
  return (s) => {
    const linux = ensureLinux(s);
    if (paths && paths.length > 0) linux.maskedPaths = [...paths];
    else delete linux.maskedPaths;
  };
}

export function withReadonlyPaths(paths: readonly string[] | undefined): SpecOpt {
  return (s) => {
    const linux = ensureLinux(s);
    if (paths && paths.length > 0) linux.readonlyPaths = [...paths];
    else delete linux.readonlyPaths;
  };
}

/**
 * Create device nodes in the container and allow them in the device cgroup with
 * `access` (e.g. "rwm"). A device at an already listed path replaces it.
 */
export function withDevices(devices: readonly LinuxDevice[], access = 'rwm'): SpecOpt {
  return (s) => {
    if (!/^[rwm]+$/.test(access))
      throw errInvalidArgument(`invalid device access ${JSON.stringify(access)}`);
    const linux = ensureLinux(s);
    const paths = new Set(devices.map((d) => d.path));
    linux.devices = [
      ...(linux.devices ?? []).filter((d) => !paths.has(d.path)),
      ...devices.map((d) => ({ ...d })),
    ];
    const r = ensureResources(s);
    r.devices = [
      ...(r.devices ?? []),
      ...devices
        .filter((d) => d.type === 'c' || d.type === 'b' || d.type === 'u')
        // Unbuffered character devices ("u") are "c" to the device cgroup.
        .map((d) => ({
          allow: true,
          type: d.type === 'b' ? 'b' : 'c',
          major: d.major,
          minor: d.minor,
          access,
        })),
    ];
  };
}

/** Allow read, write and mknod on every device (the device cgroup's "a *:* rwm"). */
export const withAllDevicesAllowed: SpecOpt = (s) => {
  ensureResources(s).devices = [{ allow: true, access: 'rwm' }];
};

/** Install a seccomp profile (stored as given); undefined runs unconfined. */
export function withSeccompProfile(profile: LinuxSeccomp | undefined): SpecOpt {
  return (s) => {
    const linux = ensureLinux(s);
    if (profile) linux.seccomp = structuredClone(profile);
    else delete linux.seccomp;
  };
}

function makeWritable(type: string): SpecOpt {
  return (s) => {
    for (const m of s.mounts ?? []) {
      if (m.type === type && m.options) m.options = m.options.map((o) => (o === 'ro' ? 'rw' : o));
    }
  };
}

export const withWritableSysfs: SpecOpt = makeWritable('sysfs');
export const withWritableCgroupfs: SpecOpt = makeWritable('cgroup');

/**
 * A privileged container, as containerd's WithPrivileged plus WithAllDevicesAllowed:
 * every capability this process holds (asking for more makes runc fail), no
 * masked or read-only paths, writable sysfs and cgroupfs, no seccomp, AppArmor or
 * SELinux confinement, and access to all devices.
 */
export function withPrivileged(
  capabilities: readonly string[] = currentBoundingCapabilities(),
): SpecOpt {
  return compose(
    withCapabilities(capabilities),
    withMaskedPaths(undefined),
    withReadonlyPaths(undefined),
    withWritableSysfs,
    withWritableCgroupfs,
    withApparmorProfile(undefined),
    withSelinuxLabel(undefined),
    withSeccompProfile(undefined),
    withAllDevicesAllowed,
  );
}

// --- image config ---

/**
 * Parse a numeric `uid` or `uid:gid` user string. A bare uid gets gid 0 — resolve
 * it with resolveUser to take the gid from the image's /etc/passwd instead.
 */
export function parseNumericUser(user: string): { uid: number; gid: number } | undefined {
  const parts = user.split(':');
  if (parts.length > 2) return undefined;
  const uid = parseNumericId(parts[0]!);
  const gid = parts.length === 2 ? parseNumericId(parts[1]!) : 0;
  if (uid === undefined || gid === undefined) return undefined;
  return { uid, gid };
}

/**
 * Apply an image config the way containerd's WithImageConfig does: the image env
 * (or the default PATH when it has none) under the env already in the spec,
 * args = Entrypoint + Cmd, cwd = WorkingDir or "/", and the image's User.
 * Overriding Cmd with user args is the caller's business (apply withProcessArgs
 * afterwards). A named User needs the rootfs: resolve it with resolveUser and
 * pass it as `user`; without that only numeric `uid[:gid]` is accepted.
 */
export function withImageConfig(
  config: ImageConfig,
  options: { user?: ResolvedUser } = {},
): SpecOpt {
  return (s) => {
    const p = ensureProcess(s);
    const imageEnv = config.Env && config.Env.length > 0 ? config.Env : DEFAULT_UNIX_ENV;
    p.env = mergeEnv(imageEnv, p.env ?? []);
    p.args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    p.cwd = config.WorkingDir || '/';
    if (options.user) {
      withResolvedUser(options.user)(s);
    } else if (config.User) {
      const numeric = parseNumericUser(config.User);
      if (!numeric) {
        throw errInvalidArgument(
          `image user ${JSON.stringify(config.User)} must be resolved against the rootfs (resolveUser)`,
        );
      }
      withUser(numeric.uid, numeric.gid, [numeric.gid])(s);
    }
  };
}
