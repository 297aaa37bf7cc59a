/** `[plugins."io.berth.runtime.v2.task"]` */
export interface TaskRuntimeConfig {
  /** Runtime used when a container record names none. */
  default_runtime: string;
  /** How long a shim's `start` may take to print its address. */
  shim_start_timeout_ms: number;
  /** Dial timeout for a freshly started shim's socket. */
  shim_dial_timeout_ms: number;
  /** First per-shim reconnect (dial + Connect) limit when the daemon restarts; doubled after each miss. */
  shim_reconnect_timeout_ms: number;
  /** How long `shim delete` may take when cleaning up after a dead shim. */
  shim_delete_timeout_ms: number;
  /** Grace period for Shutdown after a task is deleted; the close that follows is expected. */
  shim_shutdown_timeout_ms: number;
  /** Pass `-debug` to shims. */
  shim_debug: boolean;
  /** Let Berth's own shim serve from the `start` process (one Node start instead of two). */
  shim_inline_start: boolean;
  /**
   * Berth shims kept started ahead of need, per shim binary (inline start
   * only): a task create hands one its arguments instead of waiting for Node
   * to start. 0 turns them off.
   */
  shim_spares: number;
}

export const defaultTaskRuntimeConfig: TaskRuntimeConfig = {
  default_runtime: 'io.containerd.berth.v2',
  shim_start_timeout_ms: 10_000,
  shim_dial_timeout_ms: 5_000,
  shim_reconnect_timeout_ms: 2_000,
  shim_delete_timeout_ms: 10_000,
  shim_shutdown_timeout_ms: 3_000,
  shim_debug: false,
  shim_inline_start: true,
  shim_spares: 1,
};

/** Rejects values the manager cannot use; the message names the key. */
export function checkTaskRuntimeConfig(c: TaskRuntimeConfig): void {
  const n = c.shim_spares;
  if (!Number.isInteger(n) || n < 0 || n > 16) {
    throw new Error(`shim_spares must be an integer from 0 to 16, got ${JSON.stringify(n)}`);
  }
}
