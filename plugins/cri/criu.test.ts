import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { criuErrors, criuUnavailableReason } from './criu.js';

describe('criu probe', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-criu-'));
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function script(name: string, body: string): Promise<string> {
    const file = path.join(dir, name);
    await fs.writeFile(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  }

  it('names a missing binary', async () => {
    expect(await criuUnavailableReason(path.join(dir, 'no-criu'))).toMatch(/CRIU is not installed/);
  });

  it('passes on the error lines of a failing `criu check`', async () => {
    const bin = await script(
      'failing',
      [
        'echo "Warn (criu/kerndat.c:1): something minor" >&2',
        'echo "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds" >&2',
        'echo "Error (criu/crtools.c:260): Could not initialize kernel features detection." >&2',
        'exit 1',
      ].join('\n'),
    );
    const why = await criuUnavailableReason(bin);
    expect(why).toContain('check` failed');
    expect(why).toContain('Unexpected rt vDSO area bounds');
    expect(why).toContain('Could not initialize kernel features detection.');
    expect(why).not.toContain('something minor');
  });

  it('picks the error lines of a dump.log, timestamps and all, or else its last lines', () => {
    const log = [
      '(00.000010) Version: 3.17.1',
      '(00.001000) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds',
      '(00.001200) Dumping finished unsuccessfully',
    ].join('\n');
    expect(criuErrors(log)).toBe(
      '(00.001000) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds',
    );
    expect(criuErrors('a\nb\nc\nd\n')).toBe('b; c; d');
  });

  it('is satisfied by a passing check, and remembers it', async () => {
    const marker = path.join(dir, 'ran');
    const bin = await script(
      'passing',
      `[ "$1" = check ] || exit 2; echo x >> ${marker}; echo Looks good.`,
    );
    expect(await criuUnavailableReason(bin)).toBeUndefined();
    expect(await criuUnavailableReason(bin)).toBeUndefined();
    expect(await fs.readFile(marker, 'utf8')).toBe('x\n');
  });
});
