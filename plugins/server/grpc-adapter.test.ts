import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type Container,
  ContainersClient,
  ContainersService,
} from '../../api/gen/containerd/services/containers/v1/containers.js';
import {
  ContentClient,
  ContentService,
} from '../../api/gen/containerd/services/content/v1/content.js';
import { errNotFound, errUnavailable } from '../../core/errors/catalogue.js';
import type { CallContext } from './context.js';
import { adaptService } from './grpc-adapter.js';

const container = (id: string): Container => ({
  id,
  labels: {},
  image: '',
  runtime: undefined,
  spec: undefined,
  snapshotter: '',
  snapshotKey: '',
  createdAt: undefined,
  updatedAt: undefined,
  extensions: {},
});

describe('adaptService', () => {
  let dir: string;
  let server: Server;
  let client: ContainersClient;
  const seen: CallContext[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-adapter-'));
    const sock = `unix://${dir}/s.sock`;
    server = new Server();
    server.addService(
      ContainersService,
      adaptService(
        ContainersService,
        {
          get: async (req, ctx) => {
            seen.push(ctx);
            throw errNotFound(`container ${JSON.stringify(req.id)}`);
          },
          async *listStream(_req, ctx) {
            for (const id of ['a', 'b']) yield { container: container(id) };
            seen.push(ctx);
          },
        },
        ['list', 'create', 'update', 'delete'],
      ),
    );
    await new Promise<void>((res, rej) =>
      server.bindAsync(sock, ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
    );
    client = new ContainersClient(sock, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  const md = (ns?: string) => {
    const m = new Metadata();
    if (ns) m.set('containerd-namespace', ns);
    return m;
  };

  it('maps errors and passes the namespace header', async () => {
    const err = await new Promise<any>((r) => client.get({ id: 'x' }, md('team'), (e) => r(e)));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toBe('container "x": not found');
    expect(seen.at(-1)?.namespace).toBe('team');
  });

  it('defaults the namespace and validates it', async () => {
    await new Promise((r) => client.get({ id: 'x' }, md(), r));
    expect(seen.at(-1)?.namespace).toBe('default');
    const err = await new Promise<any>((r) => client.get({ id: 'x' }, md('../x'), (e) => r(e)));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
  });

  it('answers UNIMPLEMENTED for the methods listed as unimplemented', async () => {
    const err = await new Promise<any>((r) => client.delete({ id: 'x' }, md('a'), (e) => r(e)));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toBe(
      'containerd.services.containers.v1.Containers.Delete is not implemented by berthd',
    );
  });

  it('streams server responses', async () => {
    const ids: string[] = [];
    for await (const m of client.listStream({ filters: [] }, md('a'))) ids.push(m.container.id);
    expect(ids).toEqual(['a', 'b']);
  });
});

describe('adaptService streaming', () => {
  let dir: string;
  let server: Server;
  let client: ContentClient;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-adapter-stream-'));
    const sock = `unix://${dir}/s.sock`;
    server = new Server();
    server.addService(
      ContentService,
      adaptService(
        ContentService,
        {
          async *read(req) {
            if (req.digest === 'mid') yield { offset: 0, data: new Uint8Array([1]) };
            throw errNotFound(`content ${req.digest}`);
          },
          // Echoes each request's ref until one says "fail" or "stop".
          async *write(reqs) {
            const it = reqs[Symbol.asyncIterator]();
            for (;;) {
              const next = await it.next();
              if (next.done) return;
              if (next.value.ref === 'fail') throw errUnavailable('ref fail locked');
              const at = { startedAt: undefined, updatedAt: undefined };
              yield { action: 0, offset: 0, total: 0, digest: next.value.ref, ...at };
              if (next.value.ref === 'stop') return;
            }
          },
        },
        ['info', 'update', 'list', 'delete', 'status', 'listStatuses', 'abort'],
      ),
    );
    await new Promise<void>((res, rej) =>
      server.bindAsync(sock, ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
    );
    client = new ContentClient(sock, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  const writeReq = (ref: string) => ({
    action: 0,
    ref,
    total: 0,
    expected: '',
    offset: 0,
    data: new Uint8Array(),
    labels: {},
  });

  /** Runs one bidi call to completion: the responses and the final status code. */
  function bidi(refs: string[], halfClose: boolean) {
    return new Promise<{ got: string[]; code: number; details: string }>((resolve) => {
      const call = client.write(new Metadata());
      const got: string[] = [];
      call.on('data', (m: { digest: string }) => got.push(m.digest));
      call.on('error', () => undefined);
      call.on('status', (s) => resolve({ got, code: s.code, details: s.details }));
      for (const r of refs) call.write(writeReq(r));
      if (halfClose) call.end();
    });
  }

  it('ends a server stream that fails with its status, before or after data', async () => {
    for (const digest of ['first', 'mid']) {
      const got: number[] = [];
      const err = await (async () => {
        try {
          for await (const m of client.read({ digest, offset: 0, size: 0 }, new Metadata()))
            got.push(m.data.length);
        } catch (e) {
          return e as { code: number; details: string };
        }
      })();
      expect(err?.code).toBe(status.NOT_FOUND);
      expect(err?.details).toBe(`content ${digest}: not found`);
      expect(got).toEqual(digest === 'mid' ? [1] : []);
    }
  });

  it('runs a bidirectional stream to an OK status when the client half-closes', async () => {
    expect(await bidi(['a', 'b'], true)).toMatchObject({ got: ['a', 'b'], code: status.OK });
  });

  it('sends every response and OK when the handler returns before the requests end', async () => {
    expect(await bidi(['a', 'stop'], false)).toMatchObject({
      got: ['a', 'stop'],
      code: status.OK,
    });
  });

  it('maps a bidirectional handler error to the status', async () => {
    expect(await bidi(['a', 'fail'], false)).toMatchObject({
      got: ['a'],
      code: status.UNAVAILABLE,
      details: 'ref fail locked: unavailable',
    });
  });
});

describe('adaptService call signal', () => {
  /** A unary call as grpc-js hands it to the adapter, driven by the test. */
  const fakeCall = () =>
    Object.assign(new EventEmitter(), { metadata: new Metadata(), request: { id: 'x' } });
  /** Serves one get() through the adapter; resolves with what the callback got. */
  function serve(get: (req: unknown, ctx: CallContext) => Promise<unknown>) {
    const impl = adaptService(
      ContainersService,
      { get, listStream: async function* () {} } as never,
      ['list', 'create', 'update', 'delete'],
    );
    const call = fakeCall();
    const answered = new Promise<unknown>((r) =>
      (impl.get as (c: unknown, cb: (err: unknown, res?: unknown) => void) => void)(
        call,
        (err, res) => r(err ?? res),
      ),
    );
    return { call, answered };
  }
  afterEach(() => vi.restoreAllMocks());

  it('aborts the signal a method holds when the client cancels', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let signal: AbortSignal | undefined;
    const { call, answered } = serve(async (_req, ctx) => {
      signal = ctx.signal;
      await gate;
      return { container: container('x') };
    });
    await vi.waitFor(() => expect(signal).toBeDefined());
    expect(signal!.aborted).toBe(false);
    call.emit('cancelled');
    expect(signal!.aborted).toBe(true);
    expect((signal!.reason as Error).message).toBe('call cancelled by the client');
    release();
    await answered;
  });

  it('gives an aborted signal to a method that first reads it after the client cancelled', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { call, answered } = serve(async (_req, ctx) => {
      await gate;
      return { aborted: ctx.signal.aborted };
    });
    call.emit('cancelled');
    release();
    expect(await answered).toEqual({ aborted: true });
  });

  it('makes no AbortController for a method that never reads the signal', async () => {
    const made = vi.spyOn(globalThis, 'AbortController');
    const { call, answered } = serve(async (_req, ctx) => ({ ns: ctx.namespace }));
    expect(await answered).toEqual({ ns: 'default' });
    call.emit('cancelled'); // grpc-js reports it after every call, when the stream closes
    expect(made).not.toHaveBeenCalled();
  });
});

describe('adaptService registration', () => {
  const get = async () => ({ container: container('x') });

  it('refuses, at registration, a method neither implemented nor listed as unimplemented', () => {
    const impl = { get } as unknown as Parameters<typeof adaptService<typeof ContainersService>>[1];
    expect(() => adaptService(ContainersService, impl, ['list', 'create', 'update'])).toThrow(
      'containerd.services.containers.v1.Containers.ListStream: the local service has no listStream() and does not list it as unimplemented',
    );
  });

  it('refuses a method both implemented and listed as unimplemented', () => {
    const impl = { get } as never;
    expect(() => adaptService(ContainersService, impl, ['get'])).toThrow(
      /Containers\.Get: listed as unimplemented, but the local service has get\(\)/,
    );
  });

  it('makes a missing or renamed method a compile error', () => {
    const listStream = async function* () {};
    const rest = { list: async () => ({ containers: [] }), listStream };
    const unlisted = ['create', 'update', 'delete'] as const;
    // @ts-expect-error: get is neither implemented nor listed
    expect(() => adaptService(ContainersService, rest, unlisted)).toThrow(/no get\(\)/);
    // @ts-expect-error: fetch is no method of Containers, and get is missing
    expect(() => adaptService(ContainersService, { fetch: get, ...rest }, unlisted)).toThrow();
  });
});
