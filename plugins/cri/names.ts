import { errAlreadyExists } from '../../core/errors/catalogue.js';

/**
 * Name → id reservations. A name belongs to one sandbox or container until it
 * is released; a second reservation of a taken name fails with the id that
 * holds it, as the kubelet expects.
 */
export class NameIndex {
  private readonly byName = new Map<string, string>();

  reserve(name: string, id: string): void {
    const holder = this.byName.get(name);
    if (holder !== undefined && holder !== id) {
      throw errAlreadyExists(`name ${JSON.stringify(name)} is reserved for ${holder}`);
    }
    this.byName.set(name, id);
  }

  holder(name: string): string | undefined {
    return this.byName.get(name);
  }

  release(name: string): void {
    this.byName.delete(name);
  }
}

/** `k8s_<name>_<namespace>_<uid>_<attempt>`, the sandbox name containerd and CRI-O use. */
export function sandboxName(m: {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
}): string {
  return ['k8s', m.name, m.namespace, m.uid, String(m.attempt)].join('_');
}

/** `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`. */
export function containerName(
  c: { name: string; attempt: number },
  s: { name: string; namespace: string; uid: string },
): string {
  return ['k8s', c.name, s.name, s.namespace, s.uid, String(c.attempt)].join('_');
}
