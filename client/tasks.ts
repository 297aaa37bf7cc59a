// The Tasks service from the client: thin promise wrappers, one per RPC.
// Wait has no deadline of its own; everything else uses the client's.

import type { Mount } from '../api/gen/containerd/types/mount.js';
import type { Metric } from '../api/gen/containerd/types/metrics.js';
import type { Process, ProcessInfo } from '../api/gen/containerd/types/task/task.js';
import {
  type DeleteResponse,
  TasksClient,
  type WaitResponse,
} from '../api/gen/containerd/services/tasks/v1/tasks.js';
import type { Any } from '../api/gen/google/protobuf/any.js';
import type { CallSite } from './connection.js';

export type { DeleteResponse, Metric, Process, ProcessInfo, WaitResponse };

export interface CreateTaskArgs {
  containerId: string;
  rootfs?: Mount[];
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
  options?: Any;
  runtimePath?: string;
}

export interface ExecArgs {
  containerId: string;
  execId: string;
  /** The OCI process, packed with packJson(OCI_PROCESS_TYPE_URL, …). */
  spec: Any;
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
}

export function tasksApi(c: CallSite) {
  return {
    create: async (a: CreateTaskArgs): Promise<{ containerId: string; pid: number }> =>
      c.call(TasksClient, 'create', {
        rootfs: [],
        stdin: '',
        stdout: '',
        stderr: '',
        terminal: false,
        runtimePath: '',
        ...a,
      }),
    start: async (containerId: string, execId = ''): Promise<number> =>
      (await c.call<{ pid: number }>(TasksClient, 'start', { containerId, execId })).pid,
    delete: async (containerId: string): Promise<DeleteResponse> =>
      c.call(TasksClient, 'delete', { containerId }),
    deleteProcess: async (containerId: string, execId: string): Promise<DeleteResponse> =>
      c.call(TasksClient, 'deleteProcess', { containerId, execId }),
    get: async (containerId: string, execId = ''): Promise<Process> =>
      (await c.call<{ process: Process }>(TasksClient, 'get', { containerId, execId })).process,
    list: async (): Promise<Process[]> =>
      (await c.call<{ tasks: Process[] }>(TasksClient, 'list', { filter: '' })).tasks,
    kill: async (
      containerId: string,
      signal: number,
      opts: { execId?: string; all?: boolean } = {},
    ): Promise<void> => {
      await c.call(TasksClient, 'kill', {
        containerId,
        signal,
        execId: opts.execId ?? '',
        all: opts.all ?? false,
      });
    },
    exec: async (a: ExecArgs): Promise<void> => {
      await c.call(TasksClient, 'exec', {
        stdin: '',
        stdout: '',
        stderr: '',
        terminal: false,
        ...a,
      });
    },
    resizePty: async (
      containerId: string,
      width: number,
      height: number,
      execId = '',
    ): Promise<void> => {
      await c.call(TasksClient, 'resizePty', { containerId, execId, width, height });
    },
    closeStdin: async (containerId: string, execId = ''): Promise<void> => {
      await c.call(TasksClient, 'closeIo', { containerId, execId, stdin: true });
    },
    pause: async (containerId: string): Promise<void> => {
      await c.call(TasksClient, 'pause', { containerId });
    },
    resume: async (containerId: string): Promise<void> => {
      await c.call(TasksClient, 'resume', { containerId });
    },
    pids: async (containerId: string): Promise<ProcessInfo[]> =>
      (await c.call<{ processes: ProcessInfo[] }>(TasksClient, 'listPids', { containerId }))
        .processes,
    update: async (
      containerId: string,
      resources: Any | undefined,
      annotations: Record<string, string> = {},
    ): Promise<void> => {
      await c.call(TasksClient, 'update', { containerId, resources, annotations });
    },
    metrics: async (...filters: string[]): Promise<Metric[]> =>
      (await c.call<{ metrics: Metric[] }>(TasksClient, 'metrics', { filters })).metrics,
    /** Resolves when the process exits; abort with `signal`. */
    wait: async (containerId: string, execId = '', signal?: AbortSignal): Promise<WaitResponse> =>
      c.call(TasksClient, 'wait', { containerId, execId }, { timeoutMs: undefined, signal }),
  };
}

export type TasksApi = ReturnType<typeof tasksApi>;
