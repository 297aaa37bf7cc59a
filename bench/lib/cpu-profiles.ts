// CPU profiles (one .cpuprofile per process, written at exit by
// cpu-prof-preload.cts), summed per process kind: the functions with the most self time. A profile's
// kind is the script it ran: berthd's bundle or berth-shim's.

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cell, printTable } from './table.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export type ProcessKind = 'daemon' | 'shim' | 'other';

export interface KindProfile {
  processes: number;
  /** Sampled time outside (idle), ms. */
  busyMs: number;
  /** Self time per function, ms. */
  self: Map<string, number>;
}

const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cpu-prof-preload.cjs');

/** The environment for a Node process (and the Node processes it starts) to write profiles into `dir`. */
export function cpuProfEnv(dir: string): NodeJS.ProcessEnv {
  const existing = process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : '';
  return { NODE_OPTIONS: `${existing}--require=${PRELOAD}`, BERTH_BENCH_CPU_PROF_DIR: dir };
}

function kindOf(p: CpuProfile): ProcessKind {
  const urls = p.nodes.map((n) => n.callFrame.url);
  if (urls.some((u) => /berth-shim/.test(u))) return 'shim';
  if (urls.some((u) => /berthd/.test(u))) return 'daemon';
  return 'other';
}

function frameName(f: CallFrame): string {
  const fn = f.functionName || '(anonymous)';
  if (!f.url) return fn; // (program), (garbage collector), native
  return `${fn} ${path.basename(f.url)}:${f.lineNumber + 1}`;
}

/**
 * Self time per sampled node: each sample lasts until the next one (the last
 * until the profile's end), as Chrome's profiler views count it.
 */
function addProfile(p: CpuProfile, into: KindProfile): void {
  const names = new Map(p.nodes.map((n) => [n.id, frameName(n.callFrame)]));
  let t = p.startTime;
  const stamps = p.timeDeltas.map((d) => (t += d));
  for (let i = 0; i < p.samples.length; i++) {
    const us = (stamps[i + 1] ?? p.endTime) - stamps[i]!;
    const name = names.get(p.samples[i]!) ?? '?';
    if (name === '(idle)' || us <= 0) continue;
    into.self.set(name, (into.self.get(name) ?? 0) + us / 1000);
    into.busyMs += us / 1000;
  }
  into.processes++;
}

/** Every profile in `dir`, summed per process kind. */
export async function readProfiles(dir: string): Promise<Map<ProcessKind, KindProfile>> {
  const out = new Map<ProcessKind, KindProfile>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    let p: CpuProfile;
    try {
      p = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
    } catch {
      continue; // cut short (a process killed while writing it)
    }
    const kind = kindOf(p);
    let k = out.get(kind);
    if (!k) out.set(kind, (k = { processes: 0, busyMs: 0, self: new Map() }));
    addProfile(p, k);
  }
  return out;
}

/** The `top` functions by self time of each kind. */
export function printTopFunctions(profiles: Map<ProcessKind, KindProfile>, top: number): void {
  for (const kind of ['daemon', 'shim', 'other'] as const) {
    const k = profiles.get(kind);
    if (!k) continue;
    const rows: Cell[][] = [...k.self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => [name, ms, `${((100 * ms) / k.busyMs).toFixed(1)}%`]);
    printTable(
      `${kind}: top ${top} functions by self time (${k.processes} profiles, ${k.busyMs.toFixed(0)} ms sampled outside idle)`,
      ['function', 'self ms', 'of busy'],
      rows,
    );
  }
}
