// Locates and loads the compiled addon (build/Release/berth_native.node). It is
// built by `npm install` (node-gyp) and looked up from this module's directory
// upwards, so the same code works from native/ under vitest and from
// dist/native/ after tsc. Loading is lazy: importing Berth modules never fails
// just because the addon is missing; the first native call does, clearly.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errFailedPrecondition } from '../core/errors/catalogue.js';

/** Raw exit record as the addon reports it (signal is a number here). */
export interface RawExit {
  pid: number;
  status: number;
  signal: number | null;
  exitCode: number;
}

export interface NativeBinding {
  setChildSubreaper(): void;
  getChildSubreaper(): boolean;
  reapExited(excludePids: readonly number[]): RawExit[];
  recvFd(socketFd: number, timeoutMs: number): Promise<{ fd: number; name: string }>;
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void;
  umount2(target: string, flags: number): void;
  mknod(path: string, mode: number, dev: number): void;
  makedev(major: number, minor: number): number;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  setns(fd: number, nstype: number): void;
  unshare(flags: number): void;
  setWinsize(fd: number, rows: number, cols: number): void;
  dup2(oldfd: number, newfd: number): void;
  cloexecFrom(minfd: number): void;
  closeInheritedFrom(minfd: number): number;
  pinNetns(target: string): Promise<void>;
  connectInNetns(netns: string, ipv6: boolean, port: number, timeoutMs: number): Promise<number>;
  pinPodNamespaces(
    netns: string,
    ipcTarget: string,
    utsTarget: string,
    hostname: string,
    sysctls: string,
  ): Promise<void>;
  readNetDev(netns: string): Promise<string>;
  constants: Record<string, number>;
}

const ADDON = join('build', 'Release', 'berth_native.node');

let loaded: NativeBinding | undefined;

export function findAddon(fromDir = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The loaded addon; throws FailedPrecondition with build instructions if it is missing. */
export function binding(): NativeBinding {
  if (loaded) return loaded;
  const path = findAddon();
  if (!path) {
    throw errFailedPrecondition(
      `native addon ${ADDON} not found above ${dirname(fileURLToPath(import.meta.url))}; ` +
        'run `npm install` (or `npx node-gyp rebuild`) in the berth package root',
    );
  }
  loaded = createRequire(import.meta.url)(path) as NativeBinding;
  return loaded;
}
