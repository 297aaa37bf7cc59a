import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  Plugin,
  PluginsRequest,
  PluginsResponse,
  ServerResponse,
} from '../../api/gen/containerd/services/introspection/v1/introspection.js';
import type { PluginRecord } from '../daemon/registry.js';
import { parseFilters } from '../../core/filters/index.js';
import type { IntrospectionService } from '../../api/gen/containerd/services/introspection/v1/introspection.js';
import type { LocalServiceOf } from '../server/types.js';

/** Converts a registry record to the wire Plugin message. */
export function pluginToProto(r: PluginRecord): Plugin {
  let initErr: Plugin['initErr'];
  if (r.state === 'skipped' || r.state === 'disabled') {
    // ctr reports "skip" when the message carries containerd's "skip plugin" marker.
    initErr = { code: 9, message: `${r.error ?? r.state}: skip plugin`, details: [] };
  } else if (r.state === 'error') {
    initErr = { code: r.errorCode ?? 2, message: r.error ?? 'error', details: [] };
  }
  return {
    type: r.type,
    id: r.id,
    requires: r.requires,
    platforms: r.meta.platforms.map((p) => ({
      os: p.os,
      architecture: p.architecture,
      variant: p.variant ?? '',
    })),
    exports: r.meta.exports,
    capabilities: r.meta.capabilities,
    initErr,
  };
}

function stateName(r: PluginRecord): string {
  return r.state === 'disabled' ? 'skip' : r.state === 'skipped' ? 'skip' : r.state;
}

/** Local introspection service: plugin list with filters and a persistent server UUID. */
export class IntrospectionLocal implements LocalServiceOf<IntrospectionService> {
  private uuid?: string;

  constructor(
    private readonly records: () => readonly PluginRecord[],
    private readonly root: string,
  ) {}

  async plugins(req: PluginsRequest): Promise<PluginsResponse> {
    const filter = parseFilters(req.filters ?? []);
    const plugins = this.records()
      .filter((r) =>
        filter.match((fieldpath) => {
          const [head, ...rest] = fieldpath;
          switch (head) {
            case 'type':
              return { value: r.type, present: true };
            case 'id':
              return { value: r.id, present: true };
            case 'status':
            case 'state':
              return { value: stateName(r), present: true };
            case 'capabilities':
              return rest.length === 1 && r.meta.capabilities.includes(rest[0]!)
                ? { value: rest[0]!, present: true }
                : { value: '', present: false };
            default:
              return { value: '', present: false };
          }
        }),
      )
      .map(pluginToProto);
    return { plugins };
  }

  async server(): Promise<ServerResponse> {
    return { uuid: await this.loadUuid() };
  }

  /** The server UUID survives restarts: written once under the plugin root. */
  async loadUuid(): Promise<string> {
    if (this.uuid) return this.uuid;
    const file = path.join(this.root, 'uuid');
    try {
      const v = (await readFile(file, 'utf8')).trim();
      if (/^[0-9a-f-]{36}$/.test(v)) return (this.uuid = v);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const v = randomUUID();
    await writeFile(`${file}.tmp`, v + '\n', { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    return (this.uuid = v);
  }
}
