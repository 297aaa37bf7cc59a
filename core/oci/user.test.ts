import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseGroup, parsePasswd, readFileInRoot, resolveUser } from './user.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'web:x:33:33:www:/var/www:/usr/sbin/nologin',
  'broken:x:notanumber:1::/:/bin/sh',
  '',
].join('\n');
const group = [
  'root:x:0:',
  'daemon:x:1:',
  'wheel:x:10:root,app',
  'audio:x:29:app',
  'www-data:x:33:',
  'app:x:1000:',
  'staff:x:50:web, app',
  '',
].join('\n');

describe('passwd and group parsing', () => {
  it('parses entries and skips comments and malformed lines', () => {
    expect(parsePasswd(passwd).map((u) => [u.name, u.uid, u.gid])).toEqual([
      ['root', 0, 0],
      ['daemon', 1, 1],
      ['app', 1000, 1000],
      ['web', 33, 33],
    ]);
    expect(parseGroup(group).find((g) => g.name === 'staff')).toEqual({
      name: 'staff',
      gid: 50,
      members: ['web', 'app'],
    });
  });
});

describe('resolveUser', () => {
  let root: string;

  beforeEach(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-user-')));
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/passwd'), passwd);
    writeFileSync(join(root, 'etc/group'), group);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('resolves names with primary and supplementary groups', async () => {
    expect(await resolveUser(root, 'app')).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 10, 29, 50],
    });
    expect(await resolveUser(root, 'root')).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
    expect(await resolveUser(root, '')).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
  });

  it('takes a bare uid’s gid from passwd, or 0 when unlisted', async () => {
    expect(await resolveUser(root, '33')).toEqual({ uid: 33, gid: 33, additionalGids: [33, 50] });
    expect(await resolveUser(root, '4242')).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
  });

  it('handles every user:group form', async () => {
    expect(await resolveUser(root, 'app:staff')).toEqual({
      uid: 1000,
      gid: 50,
      additionalGids: [50, 10, 29],
    });
    expect(await resolveUser(root, 'app:7')).toEqual({
      uid: 1000,
      gid: 7,
      additionalGids: [7, 10, 29, 50],
    });
    expect(await resolveUser(root, '1000:www-data')).toEqual({
      uid: 1000,
      gid: 33,
      additionalGids: [33, 10, 29, 50],
    });
    expect(await resolveUser(root, '5000:6000')).toEqual({
      uid: 5000,
      gid: 6000,
      additionalGids: [6000],
    });
  });

  it('fails for unknown names and malformed strings', async () => {
    await expect(resolveUser(root, 'nobody')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(resolveUser(root, 'app:nogroup')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(resolveUser(root, 'a:b:c')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(resolveUser(root, 'app:')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(resolveUser(root, '99999999999')).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
  });

  it('works without /etc/passwd and /etc/group for numeric users only', async () => {
    rmSync(join(root, 'etc'), { recursive: true });
    expect(await resolveUser(root, '1000')).toEqual({ uid: 1000, gid: 0, additionalGids: [0] });
    expect(await resolveUser(root, '1000:1000')).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [1000],
    });
    await expect(resolveUser(root, 'app')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('never reads outside the rootfs through a symlinked /etc/passwd', async () => {
    // The escape target exists on the host; inside the root it is a decoy.
    const hostShadow = '/etc/shadow';
    expect(() => readFileSync(hostShadow)).not.toThrow();
    mkdirSync(join(root, 'decoy'));
    rmSync(join(root, 'etc/passwd'));
    symlinkSync('../../../../etc/shadow', join(root, 'etc/passwd'));
    // No /etc/shadow inside the root: behaves as if passwd were missing.
    await expect(resolveUser(root, 'root')).rejects.toMatchObject({ code: 'NotFound' });
    expect(await readFileInRoot(root, '/etc/passwd')).toBeUndefined();
    // With a rootfs-local /etc/shadow, that file is what gets read.
    writeFileSync(join(root, 'etc/shadow'), 'inside:x:77:77::/:/bin/sh\n');
    expect(await resolveUser(root, 'inside')).toEqual({ uid: 77, gid: 77, additionalGids: [77] });
    expect(await readFileInRoot(root, '/etc/passwd')).toBe('inside:x:77:77::/:/bin/sh\n');
  });

  it('keeps absolute links and group links inside the rootfs', async () => {
    rmSync(join(root, 'etc/group'));
    symlinkSync('/etc/group.real', join(root, 'etc/group'));
    writeFileSync(join(root, 'etc/group.real'), 'club:x:500:app\n');
    expect(await resolveUser(root, 'app')).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 500],
    });
  });

  it('refuses non-regular files instead of blocking on them', async () => {
    rmSync(join(root, 'etc/passwd'));
    execFileSync('mkfifo', [join(root, 'etc/passwd')]);
    await expect(resolveUser(root, 'app')).rejects.toMatchObject({ code: 'InvalidArgument' });
    rmSync(join(root, 'etc/passwd'));
    mkdirSync(join(root, 'etc/passwd'));
    await expect(resolveUser(root, 'app')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
