import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import {
  capabilitiesFromMask,
  currentBoundingCapabilities,
  LINUX_CAPABILITIES,
  normalizeCapability,
} from './capabilities.js';

describe('capabilities', () => {
  it('numbers capabilities as the kernel does', () => {
    expect(LINUX_CAPABILITIES).toHaveLength(41);
    expect(LINUX_CAPABILITIES[0]).toBe('CAP_CHOWN');
    expect(LINUX_CAPABILITIES[21]).toBe('CAP_SYS_ADMIN');
    expect(LINUX_CAPABILITIES[24]).toBe('CAP_SYS_RESOURCE');
    expect(LINUX_CAPABILITIES[40]).toBe('CAP_CHECKPOINT_RESTORE');
  });

  it('normalises names to CAP_*', () => {
    expect(normalizeCapability('net_admin')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('NET_ADMIN')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('cap_sys_admin')).toBe('CAP_SYS_ADMIN');
    expect(normalizeCapability(' CAP_KILL ')).toBe('CAP_KILL');
    expect(normalizeCapability('all')).toBe('ALL');
  });

  it('rejects unknown names', () => {
    for (const bad of ['CAP_FLY', 'fly', '', 'CAP_']) {
      let err: unknown;
      try {
        normalizeCapability(bad);
      } catch (e) {
        err = e;
      }
      expect(isBerthError(err, 'InvalidArgument'), bad).toBe(true);
    }
  });

  it('decodes /proc status masks', () => {
    expect(capabilitiesFromMask('0000000000000000')).toEqual([]);
    expect(capabilitiesFromMask('0000000000000021')).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    const withoutSysResource = capabilitiesFromMask('000001fffeffffff');
    expect(withoutSysResource).toHaveLength(40);
    expect(withoutSysResource).not.toContain('CAP_SYS_RESOURCE');
    // Bits beyond what we know (future kernels) are ignored.
    expect(capabilitiesFromMask('ffffffffffffffff')).toEqual(LINUX_CAPABILITIES);
  });

  it('reads the bounding set from a status file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-caps-'));
    try {
      const status = join(dir, 'status');
      writeFileSync(
        status,
        'Name:\tnode\nCapInh:\t0000000000000000\nCapBnd:\t0000000000000003\nCapAmb:\t0\n',
      );
      expect(currentBoundingCapabilities(status)).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
      expect(currentBoundingCapabilities(join(dir, 'missing'))).toEqual(LINUX_CAPABILITIES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
