// A tiny logger: logfmt lines on stderr (the bundle's `log` FIFO, which the
// daemon copies into its own log). Kept minimal on purpose: a blocked FIFO
// would block the shim, so only errors are written unless -debug is set.

export interface Logger {
  debug(msg: string): void;
  error(msg: string): void;
}

export function createLogger(debug: boolean): Logger {
  const write = (level: string, msg: string) => {
    try {
      process.stderr.write(
        `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)} pid=${process.pid}\n`,
      );
    } catch {
      /* nowhere to report it */
    }
  };
  return {
    debug: (msg) => {
      if (debug) write('debug', msg);
    },
    error: (msg) => write('error', msg),
  };
}
