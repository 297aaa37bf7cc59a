import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../core/errors/catalogue.js';
import {
  ContainerConfig,
  LinuxContainerResources,
  PodSandboxConfig,
} from '../../api/gen/cri/runtime/v1/api.js';
import { type Spec, defaultSpec } from '../../core/oci/index.js';
import type { CriImage } from './image-index.js';
import type { SandboxNamespaces } from './pod-namespaces.js';
import { type HugepageHandling, applyResources, containerSpec, hugepageHandling } from './spec.js';

const WITH_HUGETLB = new Set(['cpu', 'memory', 'hugetlb']);
const WITHOUT_HUGETLB = new Set(['cpu', 'memory']);
const hugepageLimits = [{ pageSize: '2MB', limit: 0 }];
const procNs = (pid: number): SandboxNamespaces => ({
  net: `/proc/${pid}/ns/net`,
  ipc: `/proc/${pid}/ns/ipc`,
  uts: `/proc/${pid}/ns/uts`,
  pid: `/proc/${pid}/ns/pid`,
});

describe('hugepage limits', () => {
  it('follow disable_hugetlb_controller, the host and tolerate_missing_hugetlb_controller', () => {
    const cfg = (disable: boolean, tolerate: boolean) => ({
      disable_hugetlb_controller: disable,
      tolerate_missing_hugetlb_controller: tolerate,
    });
    expect(hugepageHandling(cfg(true, true), WITH_HUGETLB)).toBe('drop');
    expect(hugepageHandling(cfg(true, false), WITHOUT_HUGETLB)).toBe('drop');
    expect(hugepageHandling(cfg(false, true), WITH_HUGETLB)).toBe('apply');
    expect(hugepageHandling(cfg(false, false), WITH_HUGETLB)).toBe('apply');
    expect(hugepageHandling(cfg(false, true), WITHOUT_HUGETLB)).toBe('drop');
    expect(hugepageHandling(cfg(false, false), WITHOUT_HUGETLB)).toBe('reject');
  });

  function resourcesWith(handling: HugepageHandling): Spec {
    const s = defaultSpec({ id: 'c', namespace: 'k8s.io' });
    const r = LinuxContainerResources.fromJSON({ cpuShares: 512, hugepageLimits });
    applyResources(r, handling)(s);
    return s;
  }

  it('are set, left out (the rest still applied) or refused with FailedPrecondition', () => {
    expect(resourcesWith('apply').linux!.resources!.hugepageLimits).toEqual([
      { pageSize: '2MB', limit: 0 },
    ]);
    const dropped = resourcesWith('drop').linux!.resources!;
    expect(dropped.hugepageLimits).toBeUndefined();
    expect(dropped.cpu?.shares).toBe(512);
    let err: unknown;
    try {
      resourcesWith('reject');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(/hugetlb.*tolerate_missing_hugetlb_controller/);
  });

  it('a request without hugepage limits is never refused', () => {
    const s = defaultSpec({ id: 'c', namespace: 'k8s.io' });
    applyResources(LinuxContainerResources.fromJSON({ cpuShares: 2 }), 'reject')(s);
    expect(s.linux!.resources!.cpu?.shares).toBe(2);
  });
});

describe('containerSpec', () => {
  const image = {
    names: ['docker.io/library/busybox:latest'],
    targets: {},
    id: 'sha256:' + 'a'.repeat(64),
    manifestDigest: 'sha256:' + 'b'.repeat(64),
    manifest: { mediaType: '', digest: '', size: 0 },
    config: { Cmd: ['sh'] },
    chainIds: [],
    size: 0,
  } as unknown as CriImage;

  function spec(
    config: Record<string, unknown>,
    o: {
      hugepages: HugepageHandling;
      held: string[];
      podLinux?: Record<string, unknown>;
      sandboxNs?: SandboxNamespaces;
    },
  ) {
    return containerSpec({
      id: 'c1',
      sandboxId: 'p1',
      config: ContainerConfig.fromJSON({ metadata: { name: 'app' }, ...config }),
      sandboxConfig: PodSandboxConfig.fromJSON({ metadata: { name: 'pod' }, linux: o.podLinux }),
      image,
      imageName: 'busybox',
      sandboxNs: o.sandboxNs ?? procNs(1),
      user: { uid: 0, gid: 0, additionalGids: [0] },
      sandboxDir: '/nonexistent',
      hugepages: o.hugepages,
      heldCapabilities: o.held,
    });
  }

  it("applies the kubelet's request as a host without hugetlb and CAP_SYS_RESOURCE allows", () => {
    const s = spec(
      {
        linux: {
          resources: { hugepageLimits },
          securityContext: {
            capabilities: { addCapabilities: ['ALL'], dropCapabilities: ['KILL'] },
          },
        },
      },
      { hugepages: 'drop', held: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'] },
    );
    expect(s.linux!.resources?.hugepageLimits).toBeUndefined();
    expect(s.process!.capabilities!.bounding).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    expect(s.process!.capabilities!.effective).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
  });

  it('gives a privileged container the held capabilities', () => {
    const privileged = { securityContext: { privileged: true } };
    const s = spec(
      { linux: privileged },
      { hugepages: 'apply', held: ['CAP_CHOWN', 'CAP_NET_ADMIN'], podLinux: privileged },
    );
    expect(s.process!.capabilities!.bounding).toEqual(['CAP_CHOWN', 'CAP_NET_ADMIN']);
  });
  const pinned: SandboxNamespaces = {
    net: '/run/berth/netns/p1',
    ipc: '/var/lib/berth/sandboxes/p1/ns/ipc',
    uts: '/var/lib/berth/sandboxes/p1/ns/uts',
  };
  const joinedPaths = (s: Spec) =>
    Object.fromEntries((s.linux?.namespaces ?? []).map((n) => [n.type, n.path ?? '']));

  it("joins a pod's pinned namespaces and gets a PID namespace of its own without an infra container", () => {
    const own = { linux: { securityContext: { namespaceOptions: { pid: 'CONTAINER' } } } };
    const s = spec(own, { hugepages: 'drop', held: [], sandboxNs: pinned });
    expect(joinedPaths(s)).toMatchObject({
      network: pinned.net,
      ipc: pinned.ipc,
      uts: pinned.uts,
      pid: '',
    });
  });

  it('joins the pause process with one', () => {
    // Unset is POD, the enum's zero: a shared PID namespace.
    const s = spec({}, { hugepages: 'drop', held: [] });
    expect(joinedPaths(s)).toMatchObject({ network: '/proc/1/ns/net', pid: '/proc/1/ns/pid' });
    const own = spec(
      { linux: { securityContext: { namespaceOptions: { pid: 'CONTAINER' } } } },
      { hugepages: 'drop', held: [] },
    );
    expect(joinedPaths(own)).toMatchObject({ ipc: '/proc/1/ns/ipc', pid: '' });
  });

  it('refuses a shared PID namespace in a pod that has none, with FailedPrecondition', () => {
    let caught: unknown;
    try {
      spec(
        { linux: { securityContext: { namespaceOptions: { pid: 'POD' } } } },
        { hugepages: 'drop', held: [], sandboxNs: pinned },
      );
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'FailedPrecondition')).toBe(true);
    expect((caught as Error).message).toMatch(/no shared pid namespace/);
  });
});
