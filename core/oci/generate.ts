import { posix as path } from 'node:path';
import { errInvalidArgument } from '../errors/catalogue.js';
import { isKnownCapability } from './capabilities.js';
import { defaultSpec, type DefaultSpecOptions } from './default-spec.js';
import type { SpecOpt } from './spec-opts.js';
import type { Spec } from './spec-types.js';
import { LINUX_NAMESPACE_TYPES, POSIX_RLIMIT_TYPES } from './spec-types.js';

/**
 * Apply `opts` in order to a copy of `base` and validate the result. The base is
 * never modified, so one base can seed many specs.
 */
export function generateSpec(opts: readonly SpecOpt[], base: Spec): Spec {
  const spec = structuredClone(base);
  for (const opt of opts) opt(spec);
  validateSpec(spec);
  return spec;
}

/** generateSpec over containerd's default spec for this container. */
export function generateDefaultSpec(ids: DefaultSpecOptions, opts: readonly SpecOpt[] = []): Spec {
  return generateSpec(opts, defaultSpec(ids));
}

function isId(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}

/**
 * Reject what runc would refuse or misread, before a container is created with it:
 * relative mount destinations, unknown or duplicate namespaces, unknown
 * capabilities or rlimits, bad ids and device entries. Throws InvalidArgument.
 */
export function validateSpec(spec: Spec): void {
  if (typeof spec.ociVersion !== 'string' || spec.ociVersion === '') {
    throw errInvalidArgument('spec: ociVersion is required');
  }
  if (spec.root && !spec.root.path) throw errInvalidArgument('spec: root.path must not be empty');

  const p = spec.process;
  if (p) {
    if (!path.isAbsolute(p.cwd ?? '')) {
      throw errInvalidArgument(
        `spec: process cwd ${JSON.stringify(p.cwd)} must be an absolute path`,
      );
    }
    const u = p.user;
    if (!u || !isId(u.uid) || !isId(u.gid) || !(u.additionalGids ?? []).every(isId)) {
      throw errInvalidArgument('spec: process user ids must be integers in [0, 2^32)');
    }
    for (const e of p.env ?? []) {
      if (!e.includes('='))
        throw errInvalidArgument(`spec: env entry ${JSON.stringify(e)} is not KEY=value`);
    }
    const caps = p.capabilities;
    if (caps) {
      for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
        for (const c of caps[set] ?? []) {
          if (!isKnownCapability(c)) {
            throw errInvalidArgument(`spec: invalid capability ${JSON.stringify(c)} in ${set} set`);
          }
        }
      }
    }
    const seen = new Set<string>();
    for (const r of p.rlimits ?? []) {
      if (!(POSIX_RLIMIT_TYPES as readonly string[]).includes(r.type)) {
        throw errInvalidArgument(`spec: unknown rlimit ${JSON.stringify(r.type)}`);
      }
      if (seen.has(r.type)) throw errInvalidArgument(`spec: rlimit ${r.type} given twice`);
      seen.add(r.type);
      if (r.soft > r.hard) throw errInvalidArgument(`spec: ${r.type} soft limit above hard limit`);
    }
  }

  for (const m of spec.mounts ?? []) {
    if (!path.isAbsolute(m.destination ?? '')) {
      throw errInvalidArgument(
        `spec: mount destination ${JSON.stringify(m.destination)} must be an absolute path`,
      );
    }
  }

  const linux = spec.linux;
  if (linux) {
    const types = new Set<string>();
    for (const ns of linux.namespaces ?? []) {
      if (!(LINUX_NAMESPACE_TYPES as readonly string[]).includes(ns.type)) {
        throw errInvalidArgument(`spec: unknown namespace type ${JSON.stringify(ns.type)}`);
      }
      if (types.has(ns.type)) throw errInvalidArgument(`spec: namespace ${ns.type} given twice`);
      types.add(ns.type);
      if (ns.path !== undefined && !path.isAbsolute(ns.path)) {
        throw errInvalidArgument(
          `spec: ${ns.type} namespace path ${JSON.stringify(ns.path)} must be absolute`,
        );
      }
    }
    for (const d of linux.devices ?? []) {
      if (!path.isAbsolute(d.path ?? '')) {
        throw errInvalidArgument(`spec: device path ${JSON.stringify(d.path)} must be absolute`);
      }
      if (!['c', 'b', 'u', 'p'].includes(d.type)) {
        throw errInvalidArgument(
          `spec: device ${d.path} has invalid type ${JSON.stringify(d.type)}`,
        );
      }
    }
    for (const rule of linux.resources?.devices ?? []) {
      if (rule.access !== undefined && !/^[rwm]*$/.test(rule.access)) {
        throw errInvalidArgument(
          `spec: invalid device cgroup access ${JSON.stringify(rule.access)}`,
        );
      }
      if (rule.type !== undefined && !['a', 'c', 'b'].includes(rule.type)) {
        throw errInvalidArgument(`spec: invalid device cgroup type ${JSON.stringify(rule.type)}`);
      }
    }
  }
}
