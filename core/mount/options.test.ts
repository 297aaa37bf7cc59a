import { describe, expect, it } from 'vitest';
import { MS } from '../../native/index.js';
import { parseMountOptions } from './options.js';

describe('parseMountOptions', () => {
  it('splits kernel flags, propagation and filesystem data', () => {
    const o = parseMountOptions([
      'ro',
      'nosuid',
      'rbind',
      'rprivate',
      'lowerdir=/a:/b',
      'X-containerd.hint',
    ]);
    expect(o.flags).toBe(MS.RDONLY | MS.NOSUID | MS.BIND | MS.REC);
    expect(o.propagation).toBe(MS.PRIVATE | MS.REC);
    expect(o.data).toEqual(['lowerdir=/a:/b']);
  });

  it('lets later options clear earlier ones', () => {
    expect(parseMountOptions(['ro', 'rw']).flags & MS.RDONLY).toBe(0);
    expect(parseMountOptions(['noexec', 'exec']).flags & MS.NOEXEC).toBe(0);
  });
});
