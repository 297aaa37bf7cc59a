import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../core/errors/catalogue.js';
import { NameIndex, containerName, sandboxName } from './names.js';

describe('CRI names', () => {
  it('builds the kubelet-compatible sandbox and container names', () => {
    const pod = { name: 'web', namespace: 'default', uid: 'u1', attempt: 2 };
    expect(sandboxName(pod)).toBe('k8s_web_default_u1_2');
    expect(containerName({ name: 'app', attempt: 0 }, pod)).toBe('k8s_app_web_default_u1_0');
  });

  it('reserves a name for one id, refuses another id, and frees it on release', () => {
    const idx = new NameIndex();
    idx.reserve('k8s_a', 'id1');
    idx.reserve('k8s_a', 'id1'); // the holder again: fine
    let err: unknown;
    try {
      idx.reserve('k8s_a', 'id2');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'AlreadyExists')).toBe(true);
    expect((err as Error).message).toContain('id1');
    expect(idx.holder('k8s_a')).toBe('id1');
    idx.release('k8s_a');
    expect(idx.holder('k8s_a')).toBeUndefined();
    idx.reserve('k8s_a', 'id2');
    expect(idx.holder('k8s_a')).toBe('id2');
  });
});
