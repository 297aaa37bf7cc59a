// Network counters of a plain task, which its cgroup metrics do not carry:
// /proc/<init pid>/net/dev lists the interfaces of the task's network
// namespace without entering it. That needs berth on the daemon's host, in
// its PID namespace, with the right to read the task's /proc entries (root).

import fs from 'node:fs';
import { parseNetDevCounters } from '../../plugins/cri/net-dev.js';

/**
 * Bytes received and sent on the task's interfaces (loopback left out), or
 * undefined when they cannot be read, or when the task shares this host's
 * network namespace (the counters would be the host's, not the task's).
 */
export function taskNetIO(pid: number): { rx: number; tx: number } | undefined {
  if (!(pid > 0)) return undefined;
  try {
    if (fs.readlinkSync(`/proc/${pid}/ns/net`) === fs.readlinkSync('/proc/self/ns/net')) {
      return undefined;
    }
    const ifaces = parseNetDevCounters(fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8'));
    return {
      rx: ifaces.reduce((n, i) => n + i.rxBytes, 0),
      tx: ifaces.reduce((n, i) => n + i.txBytes, 0),
    };
  } catch {
    return undefined;
  }
}
