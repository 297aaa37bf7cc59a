import { existsSync } from 'node:fs';
import { errInvalidArgument } from '../../core/errors/catalogue.js';

/** One named runtime handler (Kubernetes RuntimeClass `handler`). */
export interface RuntimeHandlerConfig {
  /** Shim runtime name, e.g. `io.containerd.berth.v2`. */
  runtime_type: string;
  /** OCI runtime binary the shim runs instead of `runc` (containerd.runc.v1.Options.binary_name). */
  binary_name?: string;
}

/** `[plugins."io.berth.grpc.v1.cri"]` */
export interface CriConfig {
  /** Image the infra (pause) container of a pod runs. */
  sandbox_image: string;
  cni: {
    /** Directories searched, in order, for CNI plugin binaries. */
    bin_dirs: string[];
    /** The first `*.conflist` (by name) in here configures pod networking. */
    conf_dir: string;
  };
  /** Handler used when RunPodSandbox names none. */
  default_runtime_handler: string;
  /** Named handlers; an unknown name is rejected with InvalidArgument. */
  runtime_handlers: Record<string, RuntimeHandlerConfig>;
  /** `cgroupfs` or `systemd`; what RuntimeConfig reports to the kubelet. */
  cgroup_driver: 'cgroupfs' | 'systemd';
  /** Longer log lines are split into partial (`P`) records of at most this many bytes. */
  max_container_log_line_size: number;
  /** Streaming server (Exec/Attach/PortForward) listen address and port ("0" picks one). */
  stream_server_address: string;
  stream_server_port: string;
  /** Directory of per-registry `hosts.toml` files (mirrors, TLS) used by PullImage. */
  registry_config_path: string;
  /** Size of each pod's /dev/shm tmpfs in bytes. */
  shm_size: number;
  /**
   * Where the hugetlb cgroup controller is missing, leave hugepage limits out
   * instead of failing CreateContainer and UpdateContainerResources.
   */
  tolerate_missing_hugetlb_controller: boolean;
  /** Leave hugepage limits out even where the controller exists (containerd's default). */
  disable_hugetlb_controller: boolean;
  /**
   * Run pods whose containers do not share a PID namespace without an infra
   * (pause) container: their network, IPC and UTS namespaces are pinned files
   * instead (CRI-O's option of the same name). Pods sharing a PID namespace
   * always get one: its process is that namespace's init.
   */
  drop_infra_ctr: boolean;
}

export const defaultCriConfig: CriConfig = {
  sandbox_image: 'registry.k8s.io/pause:3.9',
  cni: { bin_dirs: ['/opt/cni/bin', '/usr/lib/cni'], conf_dir: '/etc/cni/net.d' },
  default_runtime_handler: 'runc',
  runtime_handlers: {
    runc: { runtime_type: 'io.containerd.berth.v2' },
    // Debian's crun; only offered when the binary is installed (see availableHandlers).
    crun: { runtime_type: 'io.containerd.berth.v2', binary_name: '/usr/bin/crun' },
  },
  cgroup_driver: 'cgroupfs',
  max_container_log_line_size: 16 * 1024,
  stream_server_address: '127.0.0.1',
  stream_server_port: '0',
  registry_config_path: '/etc/berth/certs.d',
  shm_size: 64 * 1024 * 1024,
  tolerate_missing_hugetlb_controller: true,
  disable_hugetlb_controller: true,
  drop_infra_ctr: true,
};

export interface ResolvedHandler extends RuntimeHandlerConfig {
  name: string;
}

/** Handlers whose OCI runtime binary is present on this host. */
export function availableHandlers(cfg: CriConfig): ResolvedHandler[] {
  return Object.entries(cfg.runtime_handlers)
    .filter(
      ([, h]) => !h.binary_name || !h.binary_name.startsWith('/') || existsSync(h.binary_name),
    )
    .map(([name, h]) => ({ name, ...h }));
}

/** The handler for a request: '' selects the default, anything unknown is InvalidArgument. */
export function resolveHandler(cfg: CriConfig, requested: string): ResolvedHandler {
  const name = requested || cfg.default_runtime_handler;
  const h = availableHandlers(cfg).find((x) => x.name === name);
  if (!h) {
    throw errInvalidArgument(
      `runtime_handler ${JSON.stringify(name)} is not configured (known: ${availableHandlers(cfg)
        .map((x) => x.name)
        .join(', ')})`,
    );
  }
  return h;
}
