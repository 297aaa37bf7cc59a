// Undo actions registered while a benchmark runs (stop a process, remove a
// directory), run last-in first-out even when the benchmark fails or the
// runner is interrupted.

export type CleanupAction = () => void | Promise<void>;

export interface Deferred {
  /** Runs the action now (at most once) instead of at cleanup. */
  now(): Promise<void>;
  /** Drops the action without running it. */
  cancel(): void;
}

export class Cleanup {
  private actions: { what: string; action: CleanupAction }[] = [];
  private running: Promise<void> | undefined;

  defer(what: string, action: CleanupAction): Deferred {
    const entry = { what, action };
    this.actions.push(entry);
    const take = (): boolean => {
      const i = this.actions.indexOf(entry);
      if (i < 0) return false;
      this.actions.splice(i, 1);
      return true;
    };
    return {
      now: async () => {
        if (take()) await entry.action();
      },
      cancel: () => void take(),
    };
  }

  /**
   * Runs every pending action, newest first; failures are reported and do not stop the rest.
   * A call while a run is in progress (Ctrl-C during a benchmark's own clean-up, or the
   * other way round) waits for that run instead of returning at once.
   */
  run(): Promise<void> {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.actions.length > 0) {
      const { what, action } = this.actions.pop()!;
      try {
        await action();
      } catch (err) {
        process.stderr.write(`cleanup: ${what}: ${(err as Error).message}\n`);
      }
    }
  }
}
