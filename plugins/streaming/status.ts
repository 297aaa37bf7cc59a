// What ends the error stream (SPDY) or channel 3 (WebSocket). From v4 on it is a
// JSON metav1.Status; client-go turns reason NonZeroExitCode with an ExitCode cause
// into an exit code. Protocols before v4 carry a bare message, and nothing on success.

export type CommandOutcome = { exitCode: number } | { error: string };

interface StatusCause {
  reason?: string;
  message: string;
}

export function successStatus(): object {
  return { metadata: {}, status: 'Success' };
}

export function exitCodeStatus(code: number): object {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) } satisfies StatusCause] },
  };
}

export function internalErrorStatus(message: string): object {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message } satisfies StatusCause] },
    code: 500,
  };
}

/** Bytes to write on the error stream for an outcome; undefined writes nothing. */
export function encodeOutcome(outcome: CommandOutcome, jsonStatus: boolean): Buffer | undefined {
  if (jsonStatus) {
    const status =
      'error' in outcome
        ? internalErrorStatus(outcome.error)
        : outcome.exitCode === 0
          ? successStatus()
          : exitCodeStatus(outcome.exitCode);
    return Buffer.from(JSON.stringify(status));
  }
  if ('error' in outcome) return Buffer.from(outcome.error);
  if (outcome.exitCode !== 0) {
    return Buffer.from(
      `command terminated with non-zero exit code: exit status ${outcome.exitCode}`,
    );
  }
  return undefined;
}
