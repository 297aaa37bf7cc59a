import type { Duplex, Readable, Writable } from 'node:stream';

// What the CRI plugin hands the streaming server (from ExecRequest, AttachRequest
// and PortForwardRequest) and what it implements so the server can reach containers.

export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface AttachRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface PortForwardRequest {
  podSandboxId: string;
  /** Ports the client may open; empty allows any port it names. */
  ports: number[];
}

export interface TerminalSize {
  width: number;
  height: number;
}

/** The client's end of an exec or attach, as the runtime sees it. */
export interface CommandStreams {
  /** Client input; ends when the client closes stdin. Present only if requested. */
  stdin?: Readable;
  /** End it when the process's stdout reaches EOF; the server cuts it off a short while after exit. */
  stdout?: Writable;
  /** Absent with a TTY (the terminal merges both). */
  stderr?: Writable;
  tty: boolean;
  /** Terminal size changes from the client; finishes when the session ends. */
  resize: AsyncIterable<TerminalSize>;
  /** Aborted when the client goes away before the command ended: kill or detach then. */
  signal: AbortSignal;
}

export interface StreamingRuntime {
  /** Runs cmd in the container; resolves with its exit code once it exits. */
  exec(containerId: string, cmd: string[], streams: CommandStreams): Promise<{ exitCode: number }>;
  /** Attaches to the container's main process; resolves when it exits or the client detaches. */
  attach(containerId: string, streams: CommandStreams): Promise<void>;
  /**
   * Connects stream to localhost:port in the sandbox's network namespace and copies
   * both ways; resolves once both directions are closed. Ending stream's writable
   * side closes the client's connection.
   */
  portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void>;
}
