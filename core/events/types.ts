import * as container from '../../api/gen/containerd/events/container.js';
import * as content from '../../api/gen/containerd/events/content.js';
import * as image from '../../api/gen/containerd/events/image.js';
import * as namespace from '../../api/gen/containerd/events/namespace.js';
import * as snapshot from '../../api/gen/containerd/events/snapshot.js';
import * as task from '../../api/gen/containerd/events/task.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { stripPrefix } from '../protobuf/typeurl.js';

interface Fns {
  decode(b: Uint8Array): unknown;
  toJSON(m: any): unknown;
}

// Every event message, by the type URL containerd uses for it: the bare full
// name, `<package>.<Name>` (image events live in containerd.services.images.v1).
const registry = new Map<string, Fns>();
for (const mod of [container, content, image, namespace, snapshot, task]) {
  for (const [name, fns] of Object.entries(mod)) {
    if (fns && typeof fns === 'object' && 'decode' in fns && 'toJSON' in fns) {
      registry.set(`${mod.protobufPackage}.${name}`, fns as Fns);
    }
  }
}

/** Decodes an event Any to plain JSON, or undefined for an unknown type. */
export function eventToJSON(any: Any | undefined): unknown {
  if (!any) return undefined;
  const fns = registry.get(stripPrefix(any.typeUrl));
  return fns ? fns.toJSON(fns.decode(any.value)) : undefined;
}

export function isKnownEventType(typeUrl: string): boolean {
  return registry.has(stripPrefix(typeUrl));
}
