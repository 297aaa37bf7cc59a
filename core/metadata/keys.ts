// Key layout of the metadata database. All keys are UTF-8 strings separated by
// '/'. Namespace names and resource ids are identifiers (no '/'), so the first
// segments always parse unambiguously; a resource kind may append deeper
// segments of its own (e.g. snapshot keys, lease references).
//
//   schema                                 {"version": N}   (outside the layout, so
//                                                            any layout can find it)
//   v1/namespaces/<ns>                     namespace record (labels)
//   v1/ns/<ns>/<kind>/<id>[/...]           per-namespace resources
//
// Everything under v1/ns/<ns>/ belongs to that namespace; deleting a namespace
// requires that range to be empty, whatever kinds later code adds.

export const SCHEMA_KEY = 'schema';
export const LAYOUT_PREFIX = 'v1/';
export const NAMESPACES_PREFIX = `${LAYOUT_PREFIX}namespaces/`;
const RESOURCES_PREFIX = `${LAYOUT_PREFIX}ns/`;

export function namespaceKey(namespace: string): string {
  return NAMESPACES_PREFIX + namespace;
}

/** Prefix holding every resource of one namespace. */
export function namespaceResourcesPrefix(namespace: string): string {
  return `${RESOURCES_PREFIX}${namespace}/`;
}

/** Prefix holding every resource of one kind in a namespace. */
export function kindPrefix(namespace: string, kind: string): string {
  return `${namespaceResourcesPrefix(namespace)}${kind}/`;
}

export function resourceKey(namespace: string, kind: string, id: string): string {
  return kindPrefix(namespace, kind) + id;
}

/**
 * Exclusive upper bound of a '/'-terminated prefix: the same string with the
 * trailing '/' bumped to '0', the next byte. Every key starting with the prefix
 * sorts below it, in byte order as well as in UTF-16 order.
 */
export function prefixEnd(prefix: string): string {
  if (!prefix.endsWith('/'))
    throw new Error(`key prefix ${JSON.stringify(prefix)} must end with '/'`);
  return prefix.slice(0, -1) + '0';
}

/** What a written key touches, for change notification. */
export interface KeyScope {
  namespace: string;
  kind: string;
}

export function scopeOfKey(key: string): KeyScope | undefined {
  if (key.startsWith(NAMESPACES_PREFIX)) {
    return { namespace: key.slice(NAMESPACES_PREFIX.length), kind: 'namespaces' };
  }
  if (key.startsWith(RESOURCES_PREFIX)) {
    const [namespace, kind] = key.slice(RESOURCES_PREFIX.length).split('/', 2);
    if (namespace && kind) return { namespace, kind };
  }
  return undefined;
}
