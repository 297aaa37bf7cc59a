// Whether this host can checkpoint at all. runc checkpoints through CRIU, which
// needs its binary and kernel features that `criu check` verifies (namespaces,
// the vDSO layout, ptrace and memory-tracking interfaces, ...). Asked before
// every checkpoint so the caller gets one clear reason instead of a dump log.

import { execFile } from 'node:child_process';

/** `criu check` is quick; this only bounds a hung one. */
const CHECK_TIMEOUT_MS = 120_000;
/** Binaries whose check passed: the kernel does not change under a running daemon. */
const passed = new Set<string>();

/** Why this host cannot checkpoint, or undefined when `criu check` passes. */
export async function criuUnavailableReason(binary = 'criu'): Promise<string | undefined> {
  if (passed.has(binary)) return undefined;
  const reason = await new Promise<string | undefined>((resolve) => {
    execFile(binary, ['check'], { timeout: CHECK_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (!err) return resolve(undefined);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return resolve(`CRIU is not installed (no ${binary} executable found)`);
      }
      if (err.killed) return resolve(`\`${binary} check\` did not finish`);
      resolve(`\`${binary} check\` failed: ${criuErrors(`${stderr}\n${stdout}`) || err.message}`);
    });
  });
  if (reason === undefined) passed.add(binary);
  return reason;
}

/** criu's error lines (or its last lines), joined and bounded for a status message. */
export function criuErrors(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // dump.log prefixes its lines with a timestamp, "(00.012345) Error (criu/...): ...".
  const errors = lines.filter((l) => /^(\(\s*[\d.]+\)\s*)?error\b/i.test(l));
  return (errors.length > 0 ? errors : lines.slice(-3)).join('; ').slice(0, 800);
}
