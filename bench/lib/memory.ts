// Memory of a process from /proc: RSS counts every resident page it maps, PSS
// divides shared pages by the number of processes mapping them, USS is what
// only this process holds (what killing it would free).

import { readFile } from 'node:fs/promises';

export interface MemoryUsage {
  rssKiB: number;
  pssKiB: number;
  /** Private_Clean + Private_Dirty. */
  ussKiB: number;
  /** Peak RSS (VmHWM). */
  peakRssKiB: number;
}

function fieldKiB(text: string, name: string, file: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (!m) throw new Error(`${file} has no ${name}`);
  return Number(m[1]);
}

export async function readMemory(pid: number): Promise<MemoryUsage> {
  const rollupFile = `/proc/${pid}/smaps_rollup`;
  const statusFile = `/proc/${pid}/status`;
  const [rollup, status] = await Promise.all([
    readFile(rollupFile, 'utf8'),
    readFile(statusFile, 'utf8'),
  ]);
  return {
    rssKiB: fieldKiB(rollup, 'Rss', rollupFile),
    pssKiB: fieldKiB(rollup, 'Pss', rollupFile),
    ussKiB:
      fieldKiB(rollup, 'Private_Clean', rollupFile) + fieldKiB(rollup, 'Private_Dirty', rollupFile),
    peakRssKiB: fieldKiB(status, 'VmHWM', statusFile),
  };
}

export const MiB = (kib: number): number => kib / 1024;
