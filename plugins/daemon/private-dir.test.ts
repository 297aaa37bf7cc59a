import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir } from './private-dir.js';

describe('ensurePrivateDir', () => {
  let tmp: string;
  const modeOf = (p: string) => statSync(p).mode & 0o7777;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-dirs-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('makes a missing directory with the mode', async () => {
    const d = path.join(tmp, 'a', 'b');
    expect(await ensurePrivateDir(d, 0o711)).toBeUndefined();
    expect(modeOf(d)).toBe(0o711);
  });

  it('tightens an existing looser directory and says what it had', async () => {
    const d = path.join(tmp, 'loose');
    mkdirSync(d);
    chmodSync(d, 0o755);
    expect(await ensurePrivateDir(d, 0o711)).toBe(0o755);
    expect(modeOf(d)).toBe(0o711);
    chmodSync(d, 0o777);
    expect(await ensurePrivateDir(d, 0o700)).toBe(0o777);
    expect(modeOf(d)).toBe(0o700);
  });

  it('leaves a directory that is already as tight or tighter', async () => {
    const d = path.join(tmp, 'tight');
    mkdirSync(d);
    chmodSync(d, 0o700);
    expect(await ensurePrivateDir(d, 0o711)).toBeUndefined();
    expect(modeOf(d)).toBe(0o700);
  });
});
