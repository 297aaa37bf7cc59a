import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdtempSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { receiveConsoleFd, type ReceivedFd } from './console-socket.js';

// A peer in Python, which can send descriptors (socket.send_fds) the way runc does.
const PEER = `
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
for _ in range(200):
    try:
        s.connect(path)
        break
    except (FileNotFoundError, ConnectionRefusedError):
        time.sleep(0.01)
if mode == 'file':
    fd = os.open(sys.argv[3], os.O_RDONLY)
    socket.send_fds(s, [sys.argv[4].encode()], [fd])
elif mode == 'pty':
    master, slave = os.openpty()
    socket.send_fds(s, [os.ttyname(slave).encode()], [master])
    os.write(slave, b'hello from the pty\\n')
    time.sleep(0.5)
elif mode == 'nofd':
    s.send(b'just a name')
elif mode == 'silent':
    time.sleep(2)
s.close()
`;

let dir: string;
const received: ReceivedFd[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-console-'));
});

afterEach(() => {
  for (const r of received.splice(0)) closeSync(r.fd);
  rmSync(dir, { recursive: true, force: true });
});

function peer(...args: string[]) {
  const child = spawn('python3', ['-c', PEER, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { child, exited: once(child, 'exit') };
}

describe('receiveConsoleFd', () => {
  it('binds before returning, receives a file descriptor and its name, then removes the socket', async () => {
    const path = join(dir, 'console.sock');
    const file = join(dir, 'payload');
    writeFileSync(file, 'contents of the sent file');
    const receiving = receiveConsoleFd(path);
    expect(existsSync(path)).toBe(true);
    const p = peer(path, 'file', file, '/dev/pts/42');
    const got = await receiving;
    received.push(got);
    expect(got.name).toBe('/dev/pts/42');
    expect(fstatSync(got.fd).ino).toBe(statSync(file).ino);
    const buf = Buffer.alloc(64);
    const n = readSync(got.fd, buf, 0, buf.length, 0);
    expect(buf.subarray(0, n).toString()).toBe('contents of the sent file');
    expect(await p.exited).toEqual([0, null]);
    expect(existsSync(path)).toBe(false);
  });

  it('receives a pty master that reads what is written to the slave', async () => {
    const path = join(dir, 'pty.sock');
    const receiving = receiveConsoleFd(path);
    const p = peer(path, 'pty');
    const got = await receiving;
    received.push(got);
    expect(got.name).toMatch(/^\/dev\/pts\/\d+$/);
    expect(fstatSync(got.fd).isCharacterDevice()).toBe(true);
    // The slave has already been written by the time send_fds returned plus a little;
    // a blocking read on the master is fine in a test.
    const buf = Buffer.alloc(64);
    const n = readSync(got.fd, buf, 0, buf.length, null);
    expect(buf.subarray(0, n).toString()).toContain('hello from the pty');
    await p.exited;
  });

  it('rejects with ENOMSG when the peer sends no descriptor', async () => {
    const path = join(dir, 'nofd.sock');
    const receiving = receiveConsoleFd(path);
    const p = peer(path, 'nofd');
    await expect(receiving).rejects.toMatchObject({ code: 'ENOMSG', syscall: 'recvmsg' });
    await p.exited;
    expect(existsSync(path)).toBe(false);
  });

  it('rejects with ETIMEDOUT when a connected peer stays silent', async () => {
    const path = join(dir, 'silent.sock');
    const receiving = receiveConsoleFd(path, { receiveTimeoutMs: 200 });
    const p = peer(path, 'silent');
    await expect(receiving).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'poll' });
    p.child.kill();
    await p.exited;
  });

  it('stops listening and removes the socket when aborted', async () => {
    const path = join(dir, 'abort.sock');
    const controller = new AbortController();
    const receiving = receiveConsoleFd(path, { signal: controller.signal });
    expect(existsSync(path)).toBe(true);
    controller.abort();
    await expect(receiving).rejects.toMatchObject({ name: 'AbortError' });
    expect(existsSync(path)).toBe(false);
    await expect(
      receiveConsoleFd(join(dir, 'x.sock'), { signal: controller.signal }),
    ).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(existsSync(join(dir, 'x.sock'))).toBe(false);
  });

  it('fails when the socket path is taken', async () => {
    const path = join(dir, 'taken.sock');
    writeFileSync(path, '');
    await expect(receiveConsoleFd(path)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
