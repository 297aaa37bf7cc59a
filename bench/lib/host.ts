// A line about the machine and programs, printed above the results.

import { execFileSync } from 'node:child_process';
import os from 'node:os';

function versionOf(binary: string, args: string[]): string | undefined {
  try {
    return execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')[0];
  } catch {
    return undefined;
  }
}

/** The 1-minute load average: other work on the machine skews every figure. */
export function loadLine(): string {
  return `load average (1 min): ${os.loadavg()[0]!.toFixed(2)}`;
}

export function describeHost(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return [
    `host: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${os.release()}`,
    `node ${process.version}; ${versionOf('/usr/bin/containerd', ['--version']) ?? 'containerd not installed'}; ${versionOf('runc', ['--version']) ?? 'runc not found'}`,
  ].join('\n');
}
