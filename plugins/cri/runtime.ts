// The CRI runtime: pod sandboxes and their containers on top of the task
// manager, snapshotter, images and CNI, with state kept in CriStore. This
// facade holds the shared context; each concern lives in its own file:
//
//   pods.ts          RunPodSandbox, StopPodSandbox, RemovePodSandbox
//   containers.ts    Create/Start/Stop/RemoveContainer, resources, log reopening
//   exec.ts          ExecSync (streaming exec and attach: streaming-runtime.ts)
//   task-exits.ts    stop signals, task deletion, the exit watch
//   recovery.ts      records and tasks reconciled after a restart
//   container-logs.ts, container-user.ts, runtime-images.ts, runtime-context.ts
//
// The RPC surface (runtime-service.ts) validates requests and maps records to
// messages.

import type {
  ContainerConfig,
  LinuxContainerResources,
  PodSandboxConfig,
} from '../../api/gen/cri/runtime/v1/api.js';
import {
  createContainer,
  removeContainer,
  reopenContainerLog,
  startContainer,
  stopContainer,
  updateContainerResources,
} from './containers.js';
import { execSync } from './exec.js';
import { removePodSandbox, runPodSandbox, stopPodSandbox } from './pods.js';
import { recover } from './recovery.js';
import { CriContext } from './runtime-context.js';

export type { ContainerEvent, ContainerEventKind, RuntimeDeps } from './runtime-context.js';
export { EXEC_OUTPUT_LIMIT } from './exec.js';
export { signalNumber } from './task-exits.js';

export class CriRuntime extends CriContext {
  runPodSandbox(config: PodSandboxConfig, runtimeHandler: string): Promise<string> {
    return runPodSandbox(this, config, runtimeHandler);
  }

  stopPodSandbox(idOrPrefix: string): Promise<void> {
    return stopPodSandbox(this, idOrPrefix);
  }

  removePodSandbox(idOrPrefix: string): Promise<void> {
    return removePodSandbox(this, idOrPrefix);
  }

  createContainer(
    sandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig | undefined,
  ): Promise<string> {
    return createContainer(this, sandboxId, config, sandboxConfig);
  }

  startContainer(idOrPrefix: string): Promise<void> {
    return startContainer(this, idOrPrefix);
  }

  stopContainer(idOrPrefix: string, timeoutS: number): Promise<void> {
    return stopContainer(this, idOrPrefix, timeoutS);
  }

  removeContainer(idOrPrefix: string): Promise<void> {
    return removeContainer(this, idOrPrefix);
  }

  reopenContainerLog(idOrPrefix: string): void {
    reopenContainerLog(this, idOrPrefix);
  }

  updateContainerResources(idOrPrefix: string, resources: LinuxContainerResources): Promise<void> {
    return updateContainerResources(this, idOrPrefix, resources);
  }

  execSync(
    idOrPrefix: string,
    cmd: string[],
    timeoutS: number,
  ): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    return execSync(this, idOrPrefix, cmd, timeoutS);
  }

  /** Restores names, live tasks, log writers and exit watchers from the records. */
  recover(): Promise<void> {
    return recover(this);
  }
}
