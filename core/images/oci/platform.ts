// Platform specifiers ("linux/amd64", "linux/arm64/v8", "linux/arm/v7"),
// normalised the way the Go ecosystem names platforms, and matchers that pick
// the best manifest for a platform from an index: the exact platform first,
// then the ones it can also run (older amd64 levels and 386, older arm
// variants, 32-bit arm on arm64).

import { errInvalidArgument } from '../../errors/catalogue.js';
import type { Platform } from './types.js';

const KNOWN_OS = new Set([
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'illumos',
  'ios',
  'js',
  'linux',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'windows',
  'wasip1',
]);

const KNOWN_ARCH = new Set([
  '386',
  'amd64',
  'arm',
  'arm64',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'ppc64',
  'ppc64le',
  'riscv64',
  's390x',
  'wasm',
]);

/** Go's architecture name for this Node process's architecture. */
export function hostArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips: 'mips',
    mipsel: 'mipsle',
  };
  return map[arch] ?? arch;
}

/** The platform of this host, normalised (linux/amd64, linux/arm64, linux/arm/v7, …). */
export function defaultPlatform(): Platform {
  return normalizePlatform({
    os: process.platform === 'darwin' ? 'darwin' : process.platform,
    architecture: hostArchitecture(),
  });
}

/** Canonical spellings: x86_64 → amd64, aarch64 → arm64 (v8 implied), armhf → arm/v7, … */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8') variant = '';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '') variant = 'v7';
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  return out;
}

/**
 * Parses `os[/arch[/variant]]`, or a lone architecture (with this host's OS).
 * Normalised; InvalidArgument for anything else.
 */
export function parsePlatformSpecifier(spec: string): Platform {
  const bad = (why: string) => errInvalidArgument(`platform ${JSON.stringify(spec)}: ${why}`);
  if (!spec || /[^a-zA-Z0-9_./-]/.test(spec)) throw bad('must be os[/arch[/variant]]');
  const parts = spec.split('/');
  if (parts.length > 3 || parts.some((x) => x === '')) throw bad('must be os[/arch[/variant]]');
  const host = defaultPlatform();
  if (parts.length === 1) {
    const one = parts[0]!.toLowerCase();
    if (KNOWN_OS.has(one)) {
      const p: Platform = { os: one, architecture: host.architecture };
      if (host.variant) p.variant = host.variant;
      return normalizePlatform(p);
    }
    const n = normalizePlatform({ os: host.os, architecture: one });
    if (KNOWN_ARCH.has(n.architecture)) return n;
    throw bad('unknown operating system or architecture');
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  const n = normalizePlatform(p);
  if (!KNOWN_OS.has(n.os)) throw bad(`unknown operating system ${JSON.stringify(n.os)}`);
  if (!KNOWN_ARCH.has(n.architecture))
    throw bad(`unknown architecture ${JSON.stringify(n.architecture)}`);
  return n;
}

export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return [n.os, n.architecture, n.variant].filter(Boolean).join('/');
}

export interface PlatformMatcher {
  /** Whether an image for `p` can run here. */
  match(p: Platform): boolean;
  /** Ordering for candidates: negative when `a` is preferred to `b`. */
  compare(a: Platform, b: Platform): number;
  toString(): string;
}

/** The platforms `p` can run, best first. */
function compatible(p: Platform): Platform[] {
  const n = normalizePlatform(p);
  const out: Platform[] = [n];
  const variantNumber = (v: string | undefined) => Number((v ?? '').replace(/^v/, ''));
  if (n.architecture === 'amd64') {
    const level = n.variant ? variantNumber(n.variant) : 1;
    for (let l = level - 1; l >= 1; l--)
      out.push(
        l === 1
          ? { os: n.os, architecture: 'amd64' }
          : { os: n.os, architecture: 'amd64', variant: `v${l}` },
      );
    out.push({ os: n.os, architecture: '386' });
  } else if (n.architecture === 'arm64') {
    // arm64 hosts (v8 and later) run 32-bit arm v7 and older.
    for (let v = 7; v >= 5; v--) out.push({ os: n.os, architecture: 'arm', variant: `v${v}` });
  } else if (n.architecture === 'arm') {
    for (let v = variantNumber(n.variant) - 1; v >= 5; v--)
      out.push({ os: n.os, architecture: 'arm', variant: `v${v}` });
  }
  return out;
}

function same(a: Platform, b: Platform): boolean {
  return (
    a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '')
  );
}

/** Matches `p` and what it can also run, preferring `p` itself. */
export function onlyPlatform(p: Platform): PlatformMatcher {
  const order = compatible(p);
  const rank = (x: Platform) => {
    const n = normalizePlatform(x);
    const i = order.findIndex((o) => same(o, n));
    return i < 0 ? order.length : i;
  };
  return {
    match: (x) => rank(x) < order.length,
    compare: (a, b) => rank(a) - rank(b),
    toString: () => formatPlatform(p),
  };
}

/** Matches exactly the given platforms (after normalisation), in the order given. */
export function exactPlatforms(...ps: Platform[]): PlatformMatcher {
  const order = ps.map(normalizePlatform);
  const rank = (x: Platform) => {
    const n = normalizePlatform(x);
    const i = order.findIndex((o) => same(o, n));
    return i < 0 ? order.length : i;
  };
  return {
    match: (x) => rank(x) < order.length,
    compare: (a, b) => rank(a) - rank(b),
    toString: () => order.map(formatPlatform).join(','),
  };
}

/** Every platform. */
export const allPlatforms: PlatformMatcher = {
  match: () => true,
  compare: () => 0,
  toString: () => 'all',
};

/** The host's platform and those it can run. */
export function defaultPlatformMatcher(): PlatformMatcher {
  return onlyPlatform(defaultPlatform());
}
