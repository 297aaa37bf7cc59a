// UpdatePodSandboxResources: after an in-place pod resize the kubelet (1.33+)
// sends the pod's new overhead and the sum of its containers' resources, once
// it has resized the pod-level cgroup itself. That cgroup (the pod's
// cgroup_parent) is the kubelet's, and each container's limits arrive through
// UpdateContainerResources, so there is nothing to apply. As containerd does
// (it has NRI to tell besides), Berth records the values on the sandbox, where
// the pod's config and PodSandboxStatus's verbose info show them.

import { errInvalidArgument, errNotFound } from '../../core/errors/catalogue.js';
import {
  LinuxPodSandboxConfig,
  PodSandboxConfig,
  type UpdatePodSandboxResourcesRequest,
} from '../../api/gen/cri/runtime/v1/api.js';
import type { KeyedMutex } from '../../core/metadata/keyed-mutex.js';
import type { CriStore } from './store.js';

export interface PodResourcesDeps {
  d: { store: CriStore };
  /** The runtime's per-id lock, so the record is not rewritten while the pod is stopped or removed. */
  lock: KeyedMutex;
}

export async function updatePodSandboxResources(
  rt: PodResourcesDeps,
  req: UpdatePodSandboxResourcesRequest,
): Promise<void> {
  if (!req.podSandboxId) throw errInvalidArgument('pod_sandbox_id is required');
  const sb = rt.d.store.sandboxes.resolve(req.podSandboxId);
  await rt.lock.run(sb.id, async () => {
    if (rt.d.store.sandboxes.find(sb.id) !== sb) throw errNotFound(`pod sandbox ${sb.id}`);
    const config = PodSandboxConfig.fromJSON(sb.config);
    // Both replace what was there, as containerd replaces them: an absent field clears it.
    config.linux = {
      ...(config.linux ?? LinuxPodSandboxConfig.fromJSON({})),
      overhead: req.overhead,
      resources: req.resources,
    };
    sb.config = PodSandboxConfig.toJSON(config);
    await rt.d.store.sandboxes.put(sb);
  });
}
