import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { binding, findAddon } from './binding.js';
import { CLONE, MNT, MS, S_IF, XATTR } from './constants.js';
import {
  cloexecFrom,
  closeInheritedFrom,
  dup2,
  getChildSubreaper,
  lgetxattr,
  llistxattr,
  lsetxattr,
  makedev,
  mknod,
  mount,
  connectInNetns,
  pinNetns,
  pinPodNamespaces,
  readNetDev,
  setChildSubreaper,
  setns,
  setWinsize,
  umount2,
  unshare,
} from './syscalls.js';

let dir: string;
const mounted: string[] = [];

function isMountPoint(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);
}

function mountTmpfs(target: string): void {
  mount('tmpfs', target, 'tmpfs', MS.NOSUID, 'size=1m,mode=0755');
  mounted.push(target);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-native-'));
});

afterEach(() => {
  for (const target of mounted.splice(0).reverse()) {
    try {
      umount2(target, MNT.DETACH);
    } catch {
      // already unmounted by the test
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('constants', () => {
  it('match the values the addon was compiled with', () => {
    const c = binding().constants;
    const groups = { MS_: MS, MNT_: MNT, XATTR_: XATTR, CLONE_: CLONE, S_IF: S_IF } as const;
    let checked = 0;
    for (const [prefix, table] of Object.entries(groups)) {
      for (const [name, value] of Object.entries(table)) {
        const cName =
          name === 'UMOUNT_NOFOLLOW' ? name : name === 'FIFO' ? 'S_IFIFO' : prefix + name;
        expect(c[cName], cName).toBe(value);
        checked++;
      }
    }
    expect(checked).toBe(Object.keys(c).length);
  });
});

describe('subreaper', () => {
  it('sets the child subreaper flag', () => {
    setChildSubreaper();
    expect(getChildSubreaper()).toBe(true);
  });
});

describe('mount and umount2', () => {
  it('mounts a tmpfs and unmounts it', () => {
    const target = join(dir, 'mnt');
    mkdirSync(target);
    mountTmpfs(target);
    expect(isMountPoint(target)).toBe(true);
    writeFileSync(join(target, 'f'), 'x');
    expect(statSync(target).dev).not.toBe(statSync(dir).dev);

    umount2(target, 0);
    expect(isMountPoint(target)).toBe(false);
    expect(existsSync(join(target, 'f'))).toBe(false);
  });

  it('bind-mounts read-only with a remount', () => {
    const src = join(dir, 'src');
    const target = join(dir, 'ro');
    mkdirSync(src);
    mkdirSync(target);
    writeFileSync(join(src, 'f'), 'data');
    mount(src, target, null, MS.BIND, null);
    mounted.push(target);
    mount(null, target, null, MS.BIND | MS.REMOUNT | MS.RDONLY, null);
    expect(readFileSync(join(target, 'f'), 'utf8')).toBe('data');
    expect(() => writeFileSync(join(target, 'g'), 'x')).toThrow(/EROFS/);
  });

  it('throws Node-style errors', () => {
    const missing = join(dir, 'missing');
    let error: NodeJS.ErrnoException | undefined;
    try {
      mount('tmpfs', missing, 'tmpfs', 0, null);
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'mount', path: missing });
    expect(error?.message).toBe(`ENOENT: no such file or directory, mount '${missing}'`);
    expect(() => umount2(dir, 0)).toThrow(
      expect.objectContaining({ code: 'EINVAL', syscall: 'umount2' }),
    );
  });
});

describe('mknod', () => {
  it('creates a 0/0 character device (an overlay whiteout)', () => {
    const path = join(dir, 'whiteout');
    mknod(path, S_IF.CHR | 0o000, makedev(0, 0));
    const st = lstatSync(path);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
  });

  it('encodes device numbers as stat reports them', () => {
    expect(makedev(1, 3)).toBe(statSync('/dev/null').rdev);
    const path = join(dir, 'null');
    mknod(path, S_IF.CHR | 0o666, makedev(1, 3));
    expect(lstatSync(path).rdev).toBe(makedev(1, 3));
    // Minors above 255 and majors above 255 use the split encoding.
    const big = join(dir, 'big');
    expect(makedev(259, 70000)).toBe(0x11110370);
    mknod(big, S_IF.BLK | 0o600, makedev(259, 70000));
    expect(lstatSync(big).rdev).toBe(0x11110370);
    expect(lstatSync(big).isBlockDevice()).toBe(true);
  });

  it('creates fifos and fails on existing paths', () => {
    const path = join(dir, 'fifo');
    mknod(path, S_IF.FIFO | 0o600);
    expect(lstatSync(path).isFIFO()).toBe(true);
    expect(() => mknod(path, S_IF.FIFO | 0o600)).toThrow(
      expect.objectContaining({ code: 'EEXIST', path }),
    );
  });
});

describe('extended attributes', () => {
  // tmpfs supports trusted.* whatever the test directory's filesystem is.
  let fsDir: string;
  beforeEach(() => {
    fsDir = join(dir, 'fs');
    mkdirSync(fsDir);
    mountTmpfs(fsDir);
  });

  it('sets, reads and lists trusted.overlay.opaque', () => {
    const d = join(fsDir, 'd');
    mkdirSync(d);
    expect(lgetxattr(d, 'trusted.overlay.opaque')).toBeNull();
    lsetxattr(d, 'trusted.overlay.opaque', Buffer.from('y'));
    expect(lgetxattr(d, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(llistxattr(d)).toContain('trusted.overlay.opaque');
  });

  it('handles empty and binary values and the create/replace flags', () => {
    const f = join(fsDir, 'f');
    writeFileSync(f, '');
    lsetxattr(f, 'user.empty', Buffer.alloc(0));
    expect(lgetxattr(f, 'user.empty')).toEqual(Buffer.alloc(0));
    const bin = Buffer.from([0, 1, 2, 255, 0]);
    lsetxattr(f, 'trusted.bin', bin, XATTR.CREATE);
    expect(lgetxattr(f, 'trusted.bin')).toEqual(bin);
    expect(() => lsetxattr(f, 'trusted.bin', bin, XATTR.CREATE)).toThrow(
      expect.objectContaining({ code: 'EEXIST' }),
    );
    expect(() => lsetxattr(f, 'trusted.none', bin, XATTR.REPLACE)).toThrow(
      expect.objectContaining({ code: 'ENODATA' }),
    );
    expect(llistxattr(f).sort()).toEqual(['trusted.bin', 'user.empty']);
  });

  it('acts on a symlink itself, not its target', () => {
    const target = join(fsDir, 'target');
    const link = join(fsDir, 'link');
    writeFileSync(target, '');
    symlinkSync(target, link);
    lsetxattr(link, 'trusted.tag', Buffer.from('link'));
    expect(lgetxattr(link, 'trusted.tag')).toEqual(Buffer.from('link'));
    expect(lgetxattr(target, 'trusted.tag')).toBeNull();
    expect(() => lgetxattr(join(fsDir, 'missing'), 'trusted.tag')).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'lgetxattr' }),
    );
  });
});

describe('namespaces', () => {
  it('unshares a UTS namespace for this thread and joins the old one back', () => {
    const before = readlinkSync('/proc/thread-self/ns/uts');
    const fd = openSync('/proc/thread-self/ns/uts', 'r');
    try {
      unshare(CLONE.NEWUTS);
      expect(readlinkSync('/proc/thread-self/ns/uts')).not.toBe(before);
      setns(fd, CLONE.NEWUTS);
      expect(readlinkSync('/proc/thread-self/ns/uts')).toBe(before);
    } finally {
      closeSync(fd);
    }
    expect(() => setns(fd, CLONE.NEWUTS)).toThrow(
      expect.objectContaining({ code: 'EBADF', syscall: 'setns' }),
    );
  });
});

describe('pinNetns', () => {
  /** Every thread's network namespace (the loop thread and libuv's pool alike). */
  const threadNetns = () =>
    readdirSync('/proc/self/task').map((t) => {
      try {
        return readlinkSync(`/proc/self/task/${t}/ns/net`);
      } catch {
        return 'gone';
      }
    });

  it('pins a new network namespace without moving any thread of this process', async () => {
    const own = readlinkSync('/proc/self/ns/net');
    const target = join(dir, 'ns');
    writeFileSync(target, '');
    await pinNetns(target);
    mounted.push(target);
    expect(isMountPoint(target)).toBe(true);
    // The pinned file is a namespace inode of its own, not ours.
    const pinned = statSync(target);
    const ours = statSync('/proc/self/ns/net');
    expect(pinned.ino).not.toBe(ours.ino);
    expect(threadNetns().filter((n) => n !== 'gone' && n !== own)).toEqual([]);
    // Two pins are two namespaces.
    const second = join(dir, 'ns2');
    writeFileSync(second, '');
    await pinNetns(second);
    mounted.push(second);
    expect(statSync(second).ino).not.toBe(pinned.ino);
    // It is a real namespace: joining it from a thread works (and we leave again).
    const back = openSync('/proc/thread-self/ns/net', 'r');
    const fd = openSync(target, 'r');
    try {
      setns(fd, CLONE.NEWNET);
      expect(readlinkSync('/proc/thread-self/ns/net')).toBe(`net:[${pinned.ino}]`);
      setns(back, CLONE.NEWNET);
    } finally {
      closeSync(fd);
      closeSync(back);
    }
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(own);
  });

  it('rejects with a Node-style error and leaves nothing behind', async () => {
    const missing = join(dir, 'absent', 'ns');
    await expect(pinNetns(missing)).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'mount',
      path: missing,
    });
    expect(
      threadNetns().every((n) => n === 'gone' || n === readlinkSync('/proc/self/ns/net')),
    ).toBe(true);
    expect(() => pinNetns(42 as unknown as string)).toThrow(/expected a string/);
  });
});

describe('pinPodNamespaces', () => {
  const nsenter = (args: string[]) => execFileSync('nsenter', args, { encoding: 'utf8' }).trim();

  it('pins IPC and UTS namespaces with the hostname and sysctls set, leaving this process alone', async () => {
    const own = { ipc: readlinkSync('/proc/self/ns/ipc'), uts: readlinkSync('/proc/self/ns/uts') };
    const ownHostname = readFileSync('/proc/sys/kernel/hostname', 'utf8');
    const ownForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const ownShmmni = readFileSync('/proc/sys/kernel/shmmni', 'utf8');
    const [net, ipc, uts] = ['net', 'ipc', 'uts'].map((n) => join(dir, n));
    for (const f of [net, ipc, uts]) writeFileSync(f, '');
    await pinNetns(net);
    mounted.push(net);
    await pinPodNamespaces({
      netns: net,
      ipcTarget: ipc,
      utsTarget: uts,
      hostname: 'pod-host',
      sysctls: { 'net.ipv4.ip_forward': '1', 'kernel/shmmni': '2048' },
    });
    mounted.push(ipc, uts);
    expect(isMountPoint(ipc) && isMountPoint(uts)).toBe(true);
    expect(statSync(ipc).ino).not.toBe(statSync('/proc/self/ns/ipc').ino);
    expect(statSync(uts).ino).not.toBe(statSync('/proc/self/ns/uts').ino);
    // What a container joining the pinned files sees.
    expect(nsenter([`--uts=${uts}`, 'hostname'])).toBe('pod-host');
    expect(nsenter([`--ipc=${ipc}`, 'cat', '/proc/sys/kernel/shmmni'])).toBe('2048');
    expect(nsenter([`--net=${net}`, 'cat', '/proc/sys/net/ipv4/ip_forward'])).toBe('1');
    // The host is untouched, and no thread of ours stayed in the pod's namespaces.
    expect(readFileSync('/proc/sys/kernel/hostname', 'utf8')).toBe(ownHostname);
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(ownForward);
    expect(readFileSync('/proc/sys/kernel/shmmni', 'utf8')).toBe(ownShmmni);
    for (const t of readdirSync('/proc/self/task')) {
      try {
        expect(readlinkSync(`/proc/self/task/${t}/ns/ipc`)).toBe(own.ipc);
        expect(readlinkSync(`/proc/self/task/${t}/ns/uts`)).toBe(own.uts);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  });

  it('pins only what it is given a target for', async () => {
    const uts = join(dir, 'uts');
    writeFileSync(uts, '');
    await pinPodNamespaces({ utsTarget: uts, hostname: 'only-uts' });
    mounted.push(uts);
    expect(nsenter([`--uts=${uts}`, 'hostname'])).toBe('only-uts');
  });

  it('names the sysctl that failed and pins nothing', async () => {
    const ipc = join(dir, 'ipc');
    writeFileSync(ipc, '');
    await expect(
      pinPodNamespaces({ ipcTarget: ipc, sysctls: { 'kernel.no_such_knob': '1' } }),
    ).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'open',
      path: '/proc/sys/kernel/no_such_knob',
    });
    expect(isMountPoint(ipc)).toBe(false);
    // A name that would leave /proc/sys never reaches the addon.
    expect(() => pinPodNamespaces({ sysctls: { '../../etc/passwd': 'x' } })).toThrow(
      /invalid sysctl name/,
    );
    expect(() => pinPodNamespaces({ sysctls: { 'kernel..x': 'x' } })).toThrow(
      /invalid sysctl name/,
    );
  });
});

describe('readNetDev', () => {
  it("reads the namespace's own interfaces", async () => {
    const ns = join(dir, 'ns');
    writeFileSync(ns, '');
    await pinNetns(ns);
    mounted.push(ns);
    // A veth pair made inside the namespace: the host's links are never touched.
    execFileSync('nsenter', [
      `--net=${ns}`,
      'ip',
      'link',
      'add',
      'probe0',
      'type',
      'veth',
      'peer',
      'name',
      'probe1',
    ]);
    const text = await readNetDev(ns);
    const names = text
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0].trim())
      .filter(Boolean);
    expect(names.sort()).toEqual(['lo', 'probe0', 'probe1']);
    await expect(readNetDev(join(dir, 'absent'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('connectInNetns', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  /** A TCP server on 127.0.0.1:port inside the namespace at `ns`, greeting each client. */
  async function serveInNetns(ns: string, port: number): Promise<void> {
    execFileSync('nsenter', [`--net=${ns}`, 'ip', 'link', 'set', 'lo', 'up']);
    const script = `require('net').createServer((s) => s.end('hello from the pod')).listen(${port}, '127.0.0.1', () => console.log('ready'))`;
    const child = spawn('nsenter', [`--net=${ns}`, process.execPath, '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`listener exited with ${code}`)));
    });
  }

  it('connects to localhost inside the namespace, not the host', async () => {
    const ns = join(dir, 'ns');
    writeFileSync(ns, '');
    await pinNetns(ns);
    mounted.push(ns);
    const port = 20000 + (process.pid % 20000);
    // Loopback is down in a new namespace: nothing is reachable yet.
    await expect(connectInNetns(ns, false, port, 1000)).rejects.toMatchObject({
      code: expect.stringMatching(/^(ENETUNREACH|ECONNREFUSED)$/),
      syscall: 'connect',
    });
    await serveInNetns(ns, port);
    const fd = await connectInNetns(ns, false, port, 1000);
    const sock = new net.Socket({ fd, readable: true, writable: true });
    const text = await new Promise<string>((resolve, reject) => {
      let got = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (got += d));
      sock.once('end', () => resolve(got));
      sock.once('error', reject);
    });
    sock.destroy();
    expect(text).toBe('hello from the pod');
    // The same port on the host's loopback has no listener: the connection was the pod's.
    await expect(
      new Promise((resolve, reject) =>
        net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject),
      ),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // Nothing of this process moved into the namespace.
    const own = readlinkSync('/proc/self/ns/net');
    expect(
      readdirSync('/proc/self/task').every((t) => {
        try {
          return readlinkSync(`/proc/self/task/${t}/ns/net`) === own;
        } catch {
          return true; // a thread that ended meanwhile
        }
      }),
    ).toBe(true);
  });

  it('names what failed: a missing file, a file that is no namespace, bad arguments', async () => {
    await expect(connectInNetns(join(dir, 'absent'), false, 80, 1000)).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'open',
    });
    const plain = join(dir, 'plain');
    writeFileSync(plain, '');
    await expect(connectInNetns(plain, false, 80, 1000)).rejects.toMatchObject({
      code: 'EINVAL',
      syscall: 'setns',
    });
    expect(() => connectInNetns(plain, false, 0, 1000)).toThrow(/port must be/);
    expect(() => connectInNetns(plain, false, 70000, 1000)).toThrow(/port must be/);
  });
});

describe('setWinsize', () => {
  it('sets the size of a pty and refuses what is not a terminal', () => {
    const master = openSync('/dev/ptmx', 'r+');
    try {
      expect(() => setWinsize(master, 40, 100)).not.toThrow();
      expect(() => setWinsize(master, -1, 100)).toThrow(RangeError);
    } finally {
      closeSync(master);
    }
    const file = openSync('/dev/null', 'r');
    try {
      expect(() => setWinsize(file, 40, 100)).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
    } finally {
      closeSync(file);
    }
  });
});

describe('dup2', () => {
  it('points one fd at another file', () => {
    const a = openSync(join(dir, 'a'), 'w');
    const b = openSync(join(dir, 'b'), 'w');
    try {
      dup2(a, b);
      writeSync(b, 'through b');
      expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('through b');
      expect(readFileSync(join(dir, 'b'), 'utf8')).toBe('');
      expect(() => dup2(9999, b)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });
});

describe('inherited fds', () => {
  /** The fds a freshly spawned child holds above its stdio. */
  const childFds = () =>
    execFileSync('/bin/sh', ['-c', 'ls /proc/self/fd'], { encoding: 'utf8' })
      .split('\n')
      .filter((f) => /^\d+$/.test(f) && Number(f) > 2)
      .map(Number);

  it('cloexecFrom keeps an inheritable fd (dup2 makes one) out of the next child', () => {
    const fd = openSync(join(dir, 'leak'), 'w');
    const high = 250;
    try {
      dup2(fd, high); // dup2's copy is not close-on-exec, like LevelDB's files
      expect(childFds()).toContain(high);
      cloexecFrom(3);
      expect(childFds()).not.toContain(high);
      writeSync(high, 'still usable here'); // only children lose it
      expect(readFileSync(join(dir, 'leak'), 'utf8')).toBe('still usable here');
    } finally {
      closeSync(high);
      closeSync(fd);
    }
  });

  it('closeInheritedFrom closes what a parent leaked and leaves Node its own fds', () => {
    const fd = openSync(join(dir, 'parent'), 'w');
    const high = 251;
    dup2(fd, high);
    try {
      // The addon itself in a fresh Node, as the shim uses it at start-up.
      const script = `
        const { readdirSync, writeFileSync } = require('node:fs');
        const addon = require(${JSON.stringify(findAddon())});
        const before = readdirSync('/proc/self/fd').includes('${high}');
        const closed = addon.closeInheritedFrom(3);
        const after = readdirSync('/proc/self/fd').includes('${high}');
        writeFileSync(${JSON.stringify(join(dir, 'child-ok'))}, 'written after the close');
        process.stdout.write(JSON.stringify({ before, after, closed }));
      `;
      const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual({ before: true, after: false, closed: 1 });
      expect(readFileSync(join(dir, 'child-ok'), 'utf8')).toBe('written after the close');
    } finally {
      closeSync(high);
      closeSync(fd);
    }
  });

  it('rejects a negative fd', () => {
    expect(() => cloexecFrom(-1)).toThrow(RangeError);
    expect(() => closeInheritedFrom(-1)).toThrow(RangeError);
  });
});
