// Host facts the CRI specs depend on: whether berthd may lower OOM scores, the
// capabilities it can hand out, and Berth's runtime-default seccomp profile.

import { readFileSync } from 'node:fs';
import { errInvalidArgument } from '../../core/errors/catalogue.js';
import {
  type LinuxSeccomp,
  type SpecOpt,
  compose,
  withAddedCapabilities,
  withAmbientCapabilities,
  withCapabilities,
  withDroppedCapabilities,
} from '../../core/oci/index.js';
import type { Capability, SecurityProfile } from '../../api/gen/cri/runtime/v1/api.js';
import { SecurityProfile_ProfileType } from '../../api/gen/cri/runtime/v1/api.js';

const CAP_SYS_RESOURCE = 24n;

function hasCapSysResource(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
  } catch {
    return false;
  }
}

function ownOomScoreAdj(): number {
  try {
    return Number.parseInt(readFileSync('/proc/self/oom_score_adj', 'utf8').trim(), 10) || 0;
  } catch {
    return 0;
  }
}

/**
 * Lowering an OOM score below one's own needs CAP_SYS_RESOURCE. Where the host
 * withholds it, requests are raised to berthd's own score instead of failing.
 */
export function clampOomScoreAdj(requested: number): number {
  const v = Math.max(-1000, Math.min(1000, requested));
  if (hasCapSysResource()) return v;
  return Math.max(v, ownOomScoreAdj());
}

const isAll = (c: string) => c.trim().toUpperCase() === 'ALL';

/**
 * A container's capabilities from the CRI add/drop lists, in containerd's
 * order: ALL in add grants every capability berthd holds (`held`; asking runc
 * for more fails the start), ALL in drop clears the set, then the named adds,
 * then the named drops, so add ALL + drop X is everything held but X. Ambient
 * capabilities come last.
 */
export function withCriCapabilities(caps: Capability, held: readonly string[]): SpecOpt {
  const opts: SpecOpt[] = [];
  if (caps.addCapabilities.some(isAll)) opts.push(withCapabilities(held));
  if (caps.dropCapabilities.some(isAll)) opts.push(withCapabilities([]));
  const add = caps.addCapabilities.filter((c) => !isAll(c));
  const drop = caps.dropCapabilities.filter((c) => !isAll(c));
  if (add.length > 0) opts.push(withAddedCapabilities(add));
  if (drop.length > 0) opts.push(withDroppedCapabilities(drop));
  if (caps.addAmbientCapabilities.length > 0) {
    opts.push(
      withAddedCapabilities(caps.addAmbientCapabilities),
      withAmbientCapabilities(caps.addAmbientCapabilities),
    );
  }
  return compose(...opts);
}

// Berth's runtime default: allow everything except the syscalls no container
// should need (module loading, kexec, reboot, swap, clock and keyring changes,
// raw kernel tracing and bpf), which fail with EPERM.
const DENIED_SYSCALLS = [
  'acct',
  'add_key',
  'bpf',
  'clock_adjtime',
  'clock_settime',
  'create_module',
  'delete_module',
  'finit_module',
  'get_kernel_syms',
  'init_module',
  'iopl',
  'ioperm',
  'kexec_file_load',
  'kexec_load',
  'keyctl',
  'lookup_dcookie',
  'nfsservctl',
  'open_by_handle_at',
  'perf_event_open',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'settimeofday',
  'stime',
  'swapoff',
  'swapon',
  'sysfs',
  'uselib',
  'userfaultfd',
  'ustat',
  'vm86',
  'vm86old',
];

export function runtimeDefaultSeccomp(): LinuxSeccomp {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [
      'SCMP_ARCH_X86_64',
      'SCMP_ARCH_X86',
      'SCMP_ARCH_X32',
      'SCMP_ARCH_AARCH64',
      'SCMP_ARCH_ARM',
    ],
    syscalls: [{ names: DENIED_SYSCALLS, action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  } as LinuxSeccomp;
}

/** The seccomp profile a security context asks for; undefined runs unconfined. */
export function seccompFor(
  profile: SecurityProfile | undefined,
  legacyPath: string,
  privileged: boolean,
): LinuxSeccomp | undefined {
  if (privileged) return undefined;
  if (profile) {
    switch (profile.profileType) {
      case SecurityProfile_ProfileType.RuntimeDefault:
        return runtimeDefaultSeccomp();
      case SecurityProfile_ProfileType.Unconfined:
        return undefined;
      case SecurityProfile_ProfileType.Localhost:
        return loadLocalhost(profile.localhostRef);
      default:
        throw errInvalidArgument(`unknown seccomp profile type ${profile.profileType}`);
    }
  }
  if (legacyPath === '' || legacyPath === 'unconfined') return undefined;
  if (legacyPath === 'runtime/default' || legacyPath === 'docker/default')
    return runtimeDefaultSeccomp();
  if (legacyPath.startsWith('localhost/'))
    return loadLocalhost(legacyPath.slice('localhost/'.length));
  throw errInvalidArgument(`unknown seccomp profile ${JSON.stringify(legacyPath)}`);
}

function loadLocalhost(file: string): LinuxSeccomp {
  if (!file.startsWith('/')) {
    throw errInvalidArgument(
      `seccomp localhost_ref ${JSON.stringify(file)} must be an absolute path`,
    );
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LinuxSeccomp;
  } catch (err) {
    throw errInvalidArgument(`seccomp profile ${file}: ${(err as Error).message}`);
  }
}
