// Wiring a task's FIFOs to this terminal: output piped through, stdin
// forwarded (raw when it is a terminal), window size kept in sync, signals
// forwarded when there is no terminal to carry them.

import os from 'node:os';
import type { ProcessHandle } from '../../client/container.js';

const FORWARDED: NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
];

export interface Attachment {
  /** Undo everything (terminal mode, listeners); output keeps draining. */
  restore(): void;
}

export function attachStdio(
  proc: ProcessHandle,
  opts: { tty: boolean; stdin: boolean },
): Attachment {
  const io = proc.io;
  if (!io) throw new Error('process has no stdio to attach');
  io.stdout.pipe(process.stdout, { end: false });
  io.stderr.pipe(process.stderr, { end: false });
  const cleanups: (() => void)[] = [];

  if (opts.stdin && io.stdin) {
    const stdin = process.stdin;
    if (opts.tty && stdin.isTTY) {
      stdin.setRawMode(true);
      cleanups.push(() => stdin.setRawMode(false));
    }
    stdin.pipe(io.stdin, { end: false });
    const onEnd = () => void proc.closeStdin().catch(() => {});
    stdin.once('end', onEnd);
    cleanups.push(() => {
      stdin.unpipe(io.stdin!);
      stdin.off('end', onEnd);
      stdin.pause();
    });
  }

  if (opts.tty && process.stdout.isTTY) {
    const resize = () =>
      void proc.resize(process.stdout.columns, process.stdout.rows).catch(() => {});
    process.on('SIGWINCH', resize);
    resize();
    cleanups.push(() => process.off('SIGWINCH', resize));
  }

  // With a terminal, Ctrl-C travels as a byte through the pty instead.
  for (const sig of opts.tty ? [] : FORWARDED) {
    const handler = () => void proc.kill(os.constants.signals[sig]).catch(() => {});
    process.on(sig, handler);
    cleanups.push(() => process.off(sig, handler));
  }

  return {
    restore() {
      for (const c of cleanups.splice(0).reverse()) c();
    },
  };
}
