import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveInRoot } from './resolve-in-root.js';

describe('resolveInRoot', () => {
  let root: string;

  beforeEach(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-root-')));
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('joins plain paths', async () => {
    expect(await resolveInRoot(root, '/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, 'etc/./passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/')).toBe(root);
  });

  it('clamps ".." at the root', async () => {
    expect(await resolveInRoot(root, '/../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/etc/../../etc/shadow')).toBe(join(root, 'etc/shadow'));
  });

  it('keeps relative symlinks inside the root', async () => {
    symlinkSync('../../../../etc/shadow', join(root, 'etc/escape'));
    expect(await resolveInRoot(root, '/etc/escape')).toBe(join(root, 'etc/shadow'));
  });

  it('takes absolute symlink targets relative to the root', async () => {
    symlinkSync('/etc/shadow', join(root, 'etc/abs'));
    expect(await resolveInRoot(root, '/etc/abs')).toBe(join(root, 'etc/shadow'));
    symlinkSync('/usr/lib', join(root, 'lib'));
    expect(await resolveInRoot(root, '/lib/os-release')).toBe(join(root, 'usr/lib/os-release'));
  });

  it('follows chains and directory links component by component', async () => {
    symlinkSync('usr', join(root, 'u'));
    symlinkSync('../../../..', join(root, 'usr/lib/up'));
    symlinkSync('/u/lib/up/etc/passwd', join(root, 'chain'));
    expect(await resolveInRoot(root, '/chain')).toBe(join(root, 'etc/passwd'));
  });

  it('checks links reached again after a missing component', async () => {
    symlinkSync('../../../../etc/shadow', join(root, 'etc/escape'));
    expect(await resolveInRoot(root, '/etc/nope/../escape')).toBe(join(root, 'etc/shadow'));
    expect(await resolveInRoot(root, '/etc/passwd/x/../../escape')).toBe(join(root, 'etc/shadow'));
  });

  it('stops on symlink loops', async () => {
    symlinkSync('b', join(root, 'a'));
    symlinkSync('a', join(root, 'b'));
    await expect(resolveInRoot(root, '/a')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
