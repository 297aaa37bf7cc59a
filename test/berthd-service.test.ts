// packaging/berthd.service: the settings that keep containers alive across a
// daemon stop or restart, read the way systemd reads a unit file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/daemon.js';

/** Section → key → values (a key may repeat); `#` and `;` lines are comments. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) throw new Error(`not a unit line: ${JSON.stringify(raw)}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

describe('packaging/berthd.service', () => {
  const unit = parseUnit(readFileSync(path.join(repoRoot, 'packaging', 'berthd.service'), 'utf8'));
  const service = unit.get('Service') ?? new Map<string, string[]>();
  const value = (key: string) => service.get(key)?.at(-1);

  it('stops berthd alone and delegates its cgroup subtree', () => {
    expect(value('KillMode')).toBe('process');
    expect(value('Delegate')).toBe('yes');
  });

  it('runs the installed berthd, restarts it, and lifts the limits containers inherit', () => {
    expect(value('ExecStart')).toMatch(/^\/\S+\/berthd$/);
    // berthd does not send sd_notify readiness; Type=notify would time out.
    expect(value('Type')).not.toBe('notify');
    expect(value('Restart')).toBe('always');
    for (const key of ['LimitNOFILE', 'TasksMax']) expect(value(key), key).toBe('infinity');
    expect(Number(value('OOMScoreAdjust'))).toBeLessThan(0);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });
});
