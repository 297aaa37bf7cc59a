// The pod view of `berth stats`: the CRI's ListPodSandboxStats (CPU, memory,
// processes, the pod's network namespace) served on berthd's socket, plus
// block IO from the Tasks Metrics of the pod's tasks in the CRI's namespace,
// since the CRI's stats carry no IO byte counts.

import type { Client } from '../../client/client.js';
import {
  type ListPodSandboxStatsResponse,
  type PodSandboxStats,
  RuntimeServiceClient,
} from '../../api/gen/cri/runtime/v1/api.js';
import { sampleFromCgroup } from './cgroup-sample.js';
import type { ResourceSample } from './stats-sample.js';

/** The containerd namespace the CRI keeps its containers in. */
export const CRI_NAMESPACE = 'k8s.io';

export interface PodReading {
  who: { ID: string; Name: string; Namespace: string };
  sample: ResourceSample;
}

const num = (v: { value: bigint } | undefined) => (v === undefined ? undefined : Number(v.value));
const sum = (xs: (number | undefined)[]) =>
  xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((n, x) => n + x!, 0);

/** Whether the pod is one the user named: by name, or by ID or a prefix of it. */
export function podMatches(s: PodSandboxStats, wanted: string[]): boolean {
  const id = s.attributes?.id ?? '';
  const name = s.attributes?.metadata?.name;
  return (
    wanted.length === 0 || wanted.some((w) => w === name || (w.length > 0 && id.startsWith(w)))
  );
}

function podSample(s: PodSandboxStats, atNs: number): ResourceSample {
  const l = s.linux;
  const ifaces = l?.network?.interfaces;
  const working = num(l?.memory?.workingSetBytes);
  const available = num(l?.memory?.availableBytes);
  return {
    atNs: l?.cpu?.timestamp ? Number(l.cpu.timestamp) : atNs,
    cpuNs: num(l?.cpu?.usageCoreNanoSeconds),
    memory: working,
    memoryLimit: working !== undefined && available !== undefined ? working + available : undefined,
    pids: num(l?.process?.processCount),
    netRx: ifaces && sum(ifaces.map((i) => num(i.rxBytes))),
    netTx: ifaces && sum(ifaces.map((i) => num(i.txBytes))),
  };
}

/** One reading of every pod the user named (all when none). */
export async function readPods(client: Client, wanted: string[]): Promise<PodReading[]> {
  const atNs = Date.now() * 1e6;
  const { stats } = await client.call<ListPodSandboxStatsResponse>(
    RuntimeServiceClient,
    'listPodSandboxStats',
    { filter: undefined },
  );
  const pods = stats.filter((s) => podMatches(s, wanted));
  // Block IO: the pod's pause task and its containers' tasks, summed.
  const taskIds = pods
    .flatMap((p) => [p.attributes?.id, ...(p.linux?.containers ?? []).map((c) => c.attributes?.id)])
    .filter((id): id is string => Boolean(id));
  // No filter would mean every task: ask only when there is a pod.
  const metrics =
    taskIds.length === 0
      ? []
      : await client
          .withNamespace(CRI_NAMESPACE)
          .tasks.metrics(...taskIds.map((id) => `id==${id}`));
  const io = new Map(metrics.map((m) => [m.id, sampleFromCgroup(m.data, atNs)]));
  return pods.map((p) => {
    const members = [p.attributes?.id, ...(p.linux?.containers ?? []).map((c) => c.attributes?.id)]
      .map((id) => io.get(id ?? ''))
      .filter((s) => s !== undefined);
    const sample = podSample(p, atNs);
    if (members.length > 0) {
      sample.blockRead = sum(members.map((m) => m.blockRead));
      sample.blockWrite = sum(members.map((m) => m.blockWrite));
    }
    return {
      who: {
        ID: p.attributes?.id ?? '',
        Name: p.attributes?.metadata?.name ?? '',
        Namespace: p.attributes?.metadata?.namespace ?? '',
      },
      sample,
    };
  });
}
