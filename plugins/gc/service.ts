import type { CollectRequest, CollectResponse } from '../../api/gen/berth/gc/v1/gc.js';
import { toTimestamp } from '../../core/protobuf/timestamp.js';
import type { CallContext } from '../server/context.js';
import type { CollectResult } from '../../core/metadata/gc/collector.js';
import type { GCService } from '../../api/gen/berth/gc/v1/gc.js';
import type { LocalServiceOf } from '../server/types.js';

export function resultToProto(r: CollectResult): CollectResponse {
  return {
    content: r.content.map((c) => ({ ...c })),
    snapshots: r.snapshots.map((s) => ({ ...s })),
    leases: r.leases.map((l) => ({ ...l })),
    ingests: r.ingests.map((i) => ({ ...i })),
    blobs: [...r.blobs],
    backendSnapshots: r.backendSnapshots.map((s) => ({ ...s })),
    startedAt: toTimestamp(r.startedAt),
    durationNs: Math.round(r.durationMs * 1e6),
    errors: [...r.errors],
  };
}

/** io.berth.gc.v1.GC: on-demand collection. Not namespaced: a collection covers every namespace. */
export class GCLocal implements LocalServiceOf<GCService> {
  constructor(private readonly collector: { collect(): Promise<CollectResult> }) {}

  async collect(_req: CollectRequest, _ctx: CallContext): Promise<CollectResponse> {
    return resultToProto(await this.collector.collect());
  }
}
