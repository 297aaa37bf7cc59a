// OS pipes and FIFO ends without blocking the event loop or the threadpool.
//
// Node has no pipe(2). A container's stdio must be a real pipe, not the
// socketpair child_process would make: programs reopen /proc/self/fd/1 (or
// /dev/stdout), which fails with ENXIO on a socket. A FIFO made with mknod,
// opened once for reading and once for writing and then unlinked, is exactly
// an anonymous pipe.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { S_IF, mknod } from '../native/index.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK } = fs.constants;

export interface Pipe {
  /** Read end (non-blocking). */
  readFd: number;
  /** Write end. */
  writeFd: number;
}

/** A pipe whose FIFO node briefly lives in `dir` (a directory only we write to). */
export function makePipe(dir: string): Pipe {
  const node = path.join(dir, `.pipe-${randomBytes(8).toString('hex')}`);
  mknod(node, S_IF.FIFO | 0o600);
  try {
    // The read end first, non-blocking, so the write open finds a reader and returns at once.
    const readFd = fs.openSync(node, O_RDONLY | O_NONBLOCK);
    let writeFd: number;
    try {
      writeFd = fs.openSync(node, O_WRONLY | O_NONBLOCK);
    } catch (err) {
      fs.closeSync(readFd);
      throw err;
    }
    return { readFd, writeFd };
  } finally {
    fs.rmSync(node, { force: true });
  }
}

export function isFifo(p: string): boolean {
  try {
    return fs.statSync(p).isFIFO();
  } catch {
    return false;
  }
}

/**
 * Opens a client's FIFO for our side of the stream. O_RDWR never blocks and
 * never fails for want of a peer (the readers and writers of ctr and the CRI
 * plugin may open after us); it also keeps a dropped reader from turning our
 * writes into EPIPE, as the reference shim does by holding a reader open.
 */
export function openFifo(p: string): number {
  return fs.openSync(p, O_RDWR | O_NONBLOCK);
}

/** A readable stream over a pipe or FIFO fd (libuv pipe handle, no threadpool). */
export function pipeReader(fd: number): net.Socket {
  return new net.Socket({ fd, readable: true, writable: false });
}

/** A writable stream over a pipe or FIFO fd. */
export function pipeWriter(fd: number): net.Socket {
  return new net.Socket({ fd, readable: false, writable: true });
}
