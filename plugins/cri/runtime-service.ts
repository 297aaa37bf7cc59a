// runtime.v1.RuntimeService as a local service: validation and message
// mapping over CriRuntime. Methods not defined here answer UNIMPLEMENTED
// through the gRPC adapter.

import { errInvalidArgument, isNotFound } from '../../core/errors/catalogue.js';
import {
  CgroupDriver,
  type CheckpointContainerRequest,
  ContainerEventType,
  type Container,
  type ContainerEventResponse,
  type ContainerFilter,
  ContainerState,
  type ContainerStatus,
  type ContainerStatusRequest,
  type ContainerStatusResponse,
  type CreateContainerRequest,
  type CreateContainerResponse,
  type ExecSyncRequest,
  type ExecSyncResponse,
  type ListContainersRequest,
  type ListContainersResponse,
  type ListMetricDescriptorsResponse,
  type ListPodSandboxMetricsResponse,
  type ListPodSandboxRequest,
  type ListPodSandboxResponse,
  type PodSandbox,
  PodSandboxState,
  type PodSandboxStatus,
  type PodSandboxStatusRequest,
  type PodSandboxStatusResponse,
  type RemoveContainerRequest,
  type RemovePodSandboxRequest,
  type ReopenContainerLogRequest,
  type RunPodSandboxRequest,
  type RunPodSandboxResponse,
  type RuntimeConfigResponse,
  type StartContainerRequest,
  type StatusRequest,
  type StatusResponse,
  type StopContainerRequest,
  type StopPodSandboxRequest,
  type UpdateContainerResourcesRequest,
  type UpdatePodSandboxResourcesRequest,
  type UpdateRuntimeConfigRequest,
  type ContainerStatsRequest,
  type ContainerStatsResponse,
  type ListContainerStatsRequest,
  type ListContainerStatsResponse,
  type PodSandboxStatsRequest,
  type PodSandboxStatsResponse,
  type ListPodSandboxStatsRequest,
  type ListPodSandboxStatsResponse,
  type VersionRequest,
  type VersionResponse,
} from '../../api/gen/cri/runtime/v1/api.js';
import { VERSION } from '../../core/version.js';
import type { CallContext } from '../server/context.js';
import type { LocalServiceOf } from '../server/types.js';
import type { RuntimeServiceService } from '../../api/gen/cri/runtime/v1/api.js';
import type { CriStreamingCall } from './streaming-service.js';
import type { RuntimeServiceUnimplemented } from './unimplemented.js';
import { checkpointContainer } from './checkpoint.js';
import { availableHandlers } from './config.js';
import { CriMetrics, metricDescriptors } from './metrics.js';
import { updatePodSandboxResources } from './pod-resources.js';
import type { ContainerEvent, ContainerEventKind, CriRuntime } from './runtime.js';
import type { CriStats } from './stats.js';
import { type ContainerRecord, containerConfigOf, type SandboxRecord } from './store.js';

export const CRI_API_VERSION = 'v1';

const STATE: Record<ContainerRecord['state'], ContainerState> = {
  created: ContainerState.CONTAINER_CREATED,
  running: ContainerState.CONTAINER_RUNNING,
  exited: ContainerState.CONTAINER_EXITED,
  unknown: ContainerState.CONTAINER_UNKNOWN,
};

const EVENT: Record<ContainerEventKind, ContainerEventType> = {
  created: ContainerEventType.CONTAINER_CREATED_EVENT,
  started: ContainerEventType.CONTAINER_STARTED_EVENT,
  stopped: ContainerEventType.CONTAINER_STOPPED_EVENT,
  deleted: ContainerEventType.CONTAINER_DELETED_EVENT,
};

function matchLabels(
  labels: Record<string, string>,
  selector: Record<string, string> | undefined,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

export class CriRuntimeService implements Omit<
  LocalServiceOf<RuntimeServiceService, RuntimeServiceUnimplemented>,
  CriStreamingCall
> {
  /** The pod CIDR the kubelet last sent with UpdateRuntimeConfig. */
  private podCidr = '';
  private readonly metrics: CriMetrics;

  constructor(
    private readonly rt: CriRuntime,
    private readonly stats: CriStats,
  ) {
    this.metrics = new CriMetrics({
      store: rt.d.store,
      read: (id) => stats.read(id),
      probe: (c) => stats.probe(c),
    });
  }

  async version(_req: VersionRequest): Promise<VersionResponse> {
    return {
      version: '0.1.0',
      runtimeName: 'berth',
      runtimeVersion: VERSION,
      runtimeApiVersion: CRI_API_VERSION,
    };
  }

  async status(req: StatusRequest): Promise<StatusResponse> {
    const netReason = await this.rt.d.cni.notReadyReason();
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.config = JSON.stringify(this.rt.d.config);
      info.podCidr = JSON.stringify(this.podCidr);
    }
    return {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          netReason
            ? {
                type: 'NetworkReady',
                status: false,
                reason: 'NetworkPluginNotReady',
                message: `Network plugin returns error: ${netReason}`,
              }
            : { type: 'NetworkReady', status: true, reason: '', message: '' },
        ],
      },
      info,
      runtimeHandlers: availableHandlers(this.rt.d.config).map((h) => ({
        name: h.name === this.rt.d.config.default_runtime_handler ? '' : h.name,
        features: { recursiveReadOnlyMounts: false, userNamespaces: false },
      })),
      features: { supplementalGroupsPolicy: false, userNamespacesHostNetwork: false },
    };
  }

  async runtimeConfig(): Promise<RuntimeConfigResponse> {
    return {
      linux: {
        cgroupDriver:
          this.rt.d.config.cgroup_driver === 'systemd'
            ? CgroupDriver.SYSTEMD
            : CgroupDriver.CGROUPFS,
      },
    };
  }

  async updateRuntimeConfig(req: UpdateRuntimeConfigRequest): Promise<object> {
    this.podCidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
    return {};
  }

  async checkpointContainer(req: CheckpointContainerRequest, ctx: CallContext): Promise<object> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    const c = this.rt.d.store.containers.resolve(req.containerId);
    await checkpointContainer(this.rt, c, () => this.toContainerStatus(c), {
      location: req.location,
      timeoutS: Number(req.timeout),
      signal: ctx.signal,
    });
    return {};
  }

  // ---- sandboxes

  async runPodSandbox(req: RunPodSandboxRequest): Promise<RunPodSandboxResponse> {
    if (!req.config) throw errInvalidArgument('config is required');
    return { podSandboxId: await this.rt.runPodSandbox(req.config, req.runtimeHandler) };
  }

  async stopPodSandbox(req: StopPodSandboxRequest): Promise<object> {
    if (!req.podSandboxId) throw errInvalidArgument('pod_sandbox_id is required');
    try {
      await this.rt.stopPodSandbox(req.podSandboxId);
    } catch (err) {
      if (!isNotFound(err)) throw err; // kubelet retries stop after remove: idempotent
    }
    return {};
  }

  async removePodSandbox(req: RemovePodSandboxRequest): Promise<object> {
    if (!req.podSandboxId) throw errInvalidArgument('pod_sandbox_id is required');
    await this.rt.removePodSandbox(req.podSandboxId);
    this.stats.forget(req.podSandboxId);
    return {};
  }

  private toSandboxStatus(sb: SandboxRecord): PodSandboxStatus {
    const cfg = this.rt.sandboxConfig(sb);
    return {
      id: sb.id,
      metadata: cfg.metadata,
      state:
        sb.state === 'ready' ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY,
      createdAt: BigInt(sb.createdAt),
      network: {
        ip: sb.state === 'ready' ? (sb.ips[0] ?? '') : '',
        additionalIps: sb.state === 'ready' ? sb.ips.slice(1).map((ip) => ({ ip })) : [],
      },
      linux: { namespaces: { options: cfg.linux?.securityContext?.namespaceOptions } },
      labels: cfg.labels,
      annotations: cfg.annotations,
      runtimeHandler: sb.runtimeHandler,
    };
  }

  async podSandboxStatus(req: PodSandboxStatusRequest): Promise<PodSandboxStatusResponse> {
    if (!req.podSandboxId) throw errInvalidArgument('pod_sandbox_id is required');
    const sb = this.rt.d.store.sandboxes.resolve(req.podSandboxId);
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        pid: sb.pid,
        netns: sb.netnsPath ?? '',
        // Without an infra container: the pinned IPC and UTS namespace files.
        ...(sb.pinnedNs && { pinnedNamespaces: sb.pinnedNs }),
        runtimeHandler: sb.runtimeHandler,
        image: sb.image,
        cniResult: sb.cniResult ?? null,
        config: sb.config,
      });
    }
    return {
      status: this.toSandboxStatus(sb),
      info,
      containersStatuses: this.rt.d.store.containers
        .list()
        .filter((c) => c.sandboxId === sb.id)
        .map((c) => this.toContainerStatus(c)),
      timestamp: BigInt(Date.now()) * 1_000_000n,
    };
  }

  async listPodSandbox(req: ListPodSandboxRequest): Promise<ListPodSandboxResponse> {
    const f = req.filter;
    const items: PodSandbox[] = [];
    for (const sb of this.rt.d.store.sandboxes.list()) {
      if (f?.id && !sb.id.startsWith(f.id)) continue;
      const s = this.toSandboxStatus(sb);
      if (f?.state && f.state.state !== s.state) continue;
      if (!matchLabels(s.labels, f?.labelSelector)) continue;
      items.push({
        id: s.id,
        metadata: s.metadata,
        state: s.state,
        createdAt: s.createdAt,
        labels: s.labels,
        annotations: s.annotations,
        runtimeHandler: s.runtimeHandler,
      });
    }
    return {
      items: items.sort((a, b) =>
        a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0,
      ),
    };
  }

  // ---- containers

  async createContainer(req: CreateContainerRequest): Promise<CreateContainerResponse> {
    if (!req.podSandboxId) throw errInvalidArgument('pod_sandbox_id is required');
    if (!req.config) throw errInvalidArgument('config is required');
    return {
      containerId: await this.rt.createContainer(req.podSandboxId, req.config, req.sandboxConfig),
    };
  }

  async startContainer(req: StartContainerRequest): Promise<object> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    await this.rt.startContainer(req.containerId);
    return {};
  }

  async stopContainer(req: StopContainerRequest): Promise<object> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    await this.rt.stopContainer(req.containerId, Number(req.timeout));
    return {};
  }

  async removeContainer(req: RemoveContainerRequest): Promise<object> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    await this.rt.removeContainer(req.containerId);
    this.stats.forget(req.containerId);
    return {};
  }

  private toContainerStatus(c: ContainerRecord): ContainerStatus {
    const cfg = containerConfigOf(c);
    return {
      id: c.id,
      metadata: cfg.metadata,
      state: STATE[c.state],
      createdAt: BigInt(c.createdAt),
      startedAt: BigInt(c.startedAt),
      finishedAt: BigInt(c.finishedAt),
      exitCode: c.exitCode,
      image: {
        image: c.image,
        annotations: cfg.image?.annotations ?? {},
        userSpecifiedImage: cfg.image?.userSpecifiedImage ?? '',
        runtimeHandler: '',
        imageRef: c.imageId,
      },
      imageRef: c.imageRef,
      reason: c.reason,
      message: c.message,
      labels: cfg.labels,
      annotations: cfg.annotations,
      mounts: cfg.mounts,
      logPath: c.logPath,
      resources: cfg.linux?.resources
        ? { linux: cfg.linux.resources, windows: undefined }
        : undefined,
      imageId: c.imageId,
      user: {
        linux: {
          uid: BigInt(c.uid),
          gid: BigInt(c.gid),
          supplementalGroups: c.additionalGids.map(BigInt),
        },
      },
      stopSignal: cfg.stopSignal,
    };
  }

  async containerStatus(req: ContainerStatusRequest): Promise<ContainerStatusResponse> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    const c = this.rt.d.store.containers.resolve(req.containerId);
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        pid: c.pid,
        sandboxID: c.sandboxId,
        snapshotKey: c.snapshotKey,
        config: c.config,
      });
    }
    return { status: this.toContainerStatus(c), info };
  }

  private matches(c: ContainerRecord, f: ContainerFilter | undefined): boolean {
    if (!f) return true;
    if (f.id && !c.id.startsWith(f.id)) return false;
    if (f.podSandboxId && !c.sandboxId.startsWith(f.podSandboxId)) return false;
    if (f.state && STATE[c.state] !== f.state.state) return false;
    return matchLabels(containerConfigOf(c).labels, f.labelSelector);
  }

  async listContainers(req: ListContainersRequest): Promise<ListContainersResponse> {
    const containers: Container[] = this.rt.d.store.containers
      .list()
      .filter((c) => this.matches(c, req.filter))
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((c) => {
        const s = this.toContainerStatus(c);
        return {
          id: c.id,
          podSandboxId: c.sandboxId,
          metadata: s.metadata,
          image: s.image,
          imageRef: c.imageRef,
          state: s.state,
          createdAt: BigInt(c.createdAt),
          labels: s.labels,
          annotations: s.annotations,
          imageId: c.imageId,
        };
      });
    return { containers };
  }

  async reopenContainerLog(req: ReopenContainerLogRequest): Promise<object> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    this.rt.reopenContainerLog(req.containerId);
    return {};
  }

  async execSync(req: ExecSyncRequest): Promise<ExecSyncResponse> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    return this.rt.execSync(req.containerId, req.cmd, Number(req.timeout));
  }

  async updateContainerResources(req: UpdateContainerResourcesRequest): Promise<object> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    if (!req.linux) throw errInvalidArgument('linux resources are required');
    await this.rt.updateContainerResources(req.containerId, req.linux);
    return {};
  }

  // ---- stats

  async containerStats(req: ContainerStatsRequest): Promise<ContainerStatsResponse> {
    if (!req.containerId) throw errInvalidArgument('container_id is required');
    return {
      stats: await this.stats.container(this.rt.d.store.containers.resolve(req.containerId)),
    };
  }

  async listContainerStats(req: ListContainerStatsRequest): Promise<ListContainerStatsResponse> {
    const f = req.filter;
    const chosen = this.rt.d.store.containers
      .list()
      .filter((c) => this.matches(c, f && { ...f, state: undefined }));
    return { stats: await Promise.all(chosen.map((c) => this.stats.container(c))) };
  }

  async podSandboxStats(req: PodSandboxStatsRequest): Promise<PodSandboxStatsResponse> {
    if (!req.podSandboxId) throw errInvalidArgument('pod_sandbox_id is required');
    return { stats: await this.stats.sandbox(this.rt.d.store.sandboxes.resolve(req.podSandboxId)) };
  }

  /** Ready pods only: a stopped pod has no processes or network to measure. */
  async listPodSandboxStats(req: ListPodSandboxStatsRequest): Promise<ListPodSandboxStatsResponse> {
    const f = req.filter;
    const chosen = this.rt.d.store.sandboxes
      .list()
      .filter(
        (sb) =>
          sb.state === 'ready' &&
          (!f?.id || sb.id.startsWith(f.id)) &&
          matchLabels(this.rt.sandboxConfig(sb).labels, f?.labelSelector),
      );
    return { stats: await Promise.all(chosen.map((sb) => this.stats.sandbox(sb))) };
  }

  async listMetricDescriptors(): Promise<ListMetricDescriptorsResponse> {
    return { descriptors: metricDescriptors() };
  }

  async listPodSandboxMetrics(): Promise<ListPodSandboxMetricsResponse> {
    return { podMetrics: await this.metrics.list() };
  }

  async updatePodSandboxResources(req: UpdatePodSandboxResourcesRequest): Promise<object> {
    await updatePodSandboxResources(this.rt, req);
    return {};
  }

  /** Every subscriber gets every event from the moment it subscribed until it hangs up. */
  async *getContainerEvents(
    _req: unknown,
    ctx: CallContext,
  ): AsyncGenerator<ContainerEventResponse> {
    const queue: ContainerEventResponse[] = [];
    let wake: (() => void) | undefined;
    const onEvent = (e: ContainerEvent) => {
      const c = this.rt.d.store.containers.find(e.id);
      const sb = e.sandboxId ? this.rt.d.store.sandboxes.find(e.sandboxId) : undefined;
      queue.push({
        containerId: e.id,
        containerEventType: EVENT[e.kind],
        createdAt: BigInt(e.at),
        podSandboxStatus: sb ? this.toSandboxStatus(sb) : undefined,
        containersStatuses: c ? [this.toContainerStatus(c)] : [],
      });
      wake?.();
    };
    this.rt.events.on('event', onEvent);
    const aborted = new Promise<void>((r) =>
      ctx.signal.addEventListener('abort', () => r(), { once: true }),
    );
    try {
      while (!ctx.signal.aborted) {
        while (queue.length > 0) yield queue.shift()!;
        await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
        wake = undefined;
      }
    } finally {
      this.rt.events.off('event', onEvent);
    }
  }
}
