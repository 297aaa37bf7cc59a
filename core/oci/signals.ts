// Signal names as images (`StopSignal`), the CRI and the CLI write them:
// `SIGTERM`, `TERM` or `15`, plus the real-time `SIGRTMIN+n` / `SIGRTMAX-n`
// that Node's table lacks. Linux numbering.

import os from 'node:os';

const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** The signal's number, or undefined for a name or number Linux does not have. */
export function signalByName(s: string): number | undefined {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n > 0 && n <= SIGRTMAX ? n : undefined;
  }
  const up = s.toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const n = base + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
    return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
  }
  return (os.constants.signals as Record<string, number | undefined>)[name];
}
