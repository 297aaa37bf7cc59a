import { describe, expect, it } from 'vitest';
import { ContainerConfig } from '../../api/gen/cri/runtime/v1/api.js';
import { containerConfigOf } from './store.js';

describe('containerConfigOf', () => {
  const json = (name: string, labels: Record<string, string> = {}) =>
    ContainerConfig.toJSON(ContainerConfig.fromJSON({ metadata: { name }, labels }));

  it('parses a record config once, and anew once the record holds another config', () => {
    const rec = { config: json('app', { tier: 'web' }) };
    const first = containerConfigOf(rec);
    expect(first.metadata?.name).toBe('app');
    expect(first.labels).toEqual({ tier: 'web' });
    expect(containerConfigOf(rec)).toBe(first);

    rec.config = json('app', { tier: 'db' });
    expect(containerConfigOf(rec).labels).toEqual({ tier: 'db' });
  });
});
