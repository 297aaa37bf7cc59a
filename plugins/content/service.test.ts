import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type ClientDuplexStream,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ContentClient,
  ContentService,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../api/gen/containerd/services/content/v1/content.js';
import type { Any } from '../../api/gen/google/protobuf/any.js';
import { MetadataDB } from '../../core/metadata/db.js';
import { adaptService } from '../server/grpc-adapter.js';
import { digestOf } from '../../core/content/digest.js';
import { ContentMetadataStore } from '../../core/metadata/content.js';
import { ContentLocal } from './service.js';
import { LocalContentStore } from '../../core/content/store.js';

type Duplex = ClientDuplexStream<WriteContentRequest, WriteContentResponse>;

const req = (r: Partial<WriteContentRequest>): WriteContentRequest => ({
  action: WriteAction.STAT,
  ref: '',
  total: 0,
  expected: '',
  offset: 0,
  data: new Uint8Array(),
  labels: {},
  ...r,
});

/** One request, one response, as containerd's remote writer does it. */
function session(stream: Duplex) {
  const queue: WriteContentResponse[] = [];
  const waiters: Array<{ res: (r: WriteContentResponse) => void; rej: (e: unknown) => void }> = [];
  let failure: unknown;
  stream.on('data', (m: WriteContentResponse) => {
    const w = waiters.shift();
    if (w) w.res(m);
    else queue.push(m);
  });
  stream.on('error', (e) => {
    failure = e;
    for (const w of waiters.splice(0)) w.rej(e);
  });
  return {
    /** Half-close, and wait for the server to finish the call. */
    end(): Promise<void> {
      stream.end();
      return new Promise((res) => stream.on('status', () => res()));
    },
    send(r: Partial<WriteContentRequest>): Promise<WriteContentResponse> {
      stream.write(req(r));
      const q = queue.shift();
      if (q) return Promise.resolve(q);
      if (failure) return Promise.reject(failure);
      return new Promise((res, rej) => waiters.push({ res, rej }));
    },
  };
}

describe('content service over gRPC', () => {
  let dir: string;
  let db: MetadataDB;
  let server: Server;
  let client: ContentClient;
  const published: { ns: string; topic: string; event: Any }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-content-svc-'));
    db = await MetadataDB.open(path.join(dir, 'meta'));
    const cs = new ContentMetadataStore(db, await LocalContentStore.open(path.join(dir, 'blobs')));
    const local = new ContentLocal(cs, {
      publish: (ns, topic, event) => void published.push({ ns, topic, event }),
    });
    server = new Server();
    server.addService(ContentService, adaptService(ContentService, local));
    const sock = `unix://${dir}/s.sock`;
    await new Promise<void>((res, rej) =>
      server.bindAsync(sock, ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
    );
    client = new ContentClient(sock, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    server.forceShutdown();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  const md = (ns = 'test') => {
    const m = new Metadata();
    m.set('containerd-namespace', ns);
    return m;
  };
  const unary = <T>(method: string, r: unknown, ns?: string) =>
    new Promise<T>((res, rej) =>
      (client as any)[method](r, md(ns), (e: unknown, v: T) => (e ? rej(e) : res(v))),
    );
  const stream = async <T>(method: string, r: unknown, ns?: string) => {
    const out: T[] = [];
    for await (const m of (client as any)[method](r, md(ns))) out.push(m as T);
    return out;
  };
  const write = (ns?: string) => session(client.write(md(ns)));

  it('writes with STAT/WRITE/COMMIT, resumes and reads back', async () => {
    const data = Buffer.from('the quick brown fox');
    const dgst = digestOf(data);
    const s1 = write();
    const st = await s1.send({ ref: 'fox', total: data.length, expected: dgst });
    expect(st).toMatchObject({ action: WriteAction.STAT, offset: 0, total: data.length });
    expect(st.startedAt).toBeDefined();
    const w = await s1.send({ action: WriteAction.WRITE, offset: 0, data: data.subarray(0, 9) });
    expect(w).toMatchObject({
      action: WriteAction.WRITE,
      offset: 9,
      digest: digestOf(data.subarray(0, 9)),
    });

    // A second session on the same ref is refused while the first holds it.
    const busy = await write()
      .send({ ref: 'fox' })
      .catch((e: any) => e);
    expect(busy.code).toBe(status.UNAVAILABLE);
    expect(busy.details).toMatch(/locked/);

    // The status is visible, then the first session goes away and a new one resumes.
    const { status: s } = await unary<any>('status', { ref: 'fox' });
    expect(s).toMatchObject({ ref: 'fox', offset: 9, total: data.length, expected: dgst });
    const { statuses } = await unary<any>('listStatuses', { filters: ['ref==fox'] });
    expect(statuses).toHaveLength(1);
    await s1.end();
  });

  it('resumes from the reported offset and commits with labels', async () => {
    const data = Buffer.from('the quick brown fox');
    const dgst = digestOf(data);
    const s = write();
    expect((await s.send({ ref: 'fox' })).offset).toBe(9);
    const bad = await s
      .send({ action: WriteAction.WRITE, offset: 5, data: data.subarray(5) })
      .catch((e: any) => e);
    expect(bad.code).toBe(status.OUT_OF_RANGE);

    // The failed session released the ref.
    const s2 = write();
    expect((await s2.send({ ref: 'fox' })).offset).toBe(9);
    const c = await s2.send({
      action: WriteAction.COMMIT,
      offset: 9,
      data: data.subarray(9),
      total: data.length,
      expected: dgst,
      labels: { 'containerd.io/gc.root': 'x' },
    });
    expect(c).toMatchObject({ action: WriteAction.COMMIT, offset: data.length, digest: dgst });

    const { info } = await unary<any>('info', { digest: dgst });
    expect(info).toMatchObject({
      digest: dgst,
      size: data.length,
      labels: { 'containerd.io/gc.root': 'x' },
    });
    const chunks = await stream<any>('read', { digest: dgst, offset: 4, size: 5 });
    expect(Buffer.concat(chunks.map((m) => Buffer.from(m.data))).toString()).toBe('quick');
    expect(chunks[0].offset).toBe(4);
    const past = await stream('read', { digest: dgst, offset: 100, size: 0 }).catch((e: any) => e);
    expect(past.code).toBe(status.OUT_OF_RANGE);

    // Expecting an existing digest ends the session with AlreadyExists and drops the ingest.
    const again = await write()
      .send({ ref: 'fox-again', expected: dgst })
      .catch((e: any) => e);
    expect(again.code).toBe(status.ALREADY_EXISTS);
    expect((await unary<any>('listStatuses', { filters: [] })).statuses).toEqual([]);
  });

  it('fails a commit whose digest does not match and keeps nothing under it', async () => {
    const s = write();
    await s.send({ ref: 'liar' });
    const wrong = digestOf('other');
    const err = await s
      .send({ action: WriteAction.COMMIT, data: Buffer.from('data'), expected: wrong })
      .catch((e: any) => e);
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    const nf = await unary<any>('info', { digest: wrong }).catch((e: any) => e);
    expect(nf.code).toBe(status.NOT_FOUND);
    await unary('abort', { ref: 'liar' });
    const gone = await unary<any>('status', { ref: 'liar' }).catch((e: any) => e);
    expect(gone.code).toBe(status.NOT_FOUND);
  });

  it('restarts an ingest on a write at offset 0', async () => {
    const s = write();
    await s.send({ ref: 'restart' });
    await s.send({ action: WriteAction.WRITE, data: Buffer.from('junk') });
    const r = await s.send({ action: WriteAction.WRITE, offset: 0, data: Buffer.from('ok') });
    expect(r.offset).toBe(2);
    const c = await s.send({ action: WriteAction.COMMIT, offset: 2 });
    expect(c.digest).toBe(digestOf('ok'));
  });

  it('lists, labels and deletes per namespace, with an event', async () => {
    const s = write('other');
    await s.send({ ref: 'x' });
    await s.send({ action: WriteAction.COMMIT, data: Buffer.from('ok'), expected: digestOf('ok') });
    const infos = async (ns: string, filters: string[] = []) =>
      (await stream<any>('list', { filters }, ns)).flatMap((m) => m.info.map((i: any) => i.digest));
    expect((await infos('test')).sort()).toEqual(
      [digestOf('ok'), digestOf('the quick brown fox')].sort(),
    );
    expect(await infos('other')).toEqual([digestOf('ok')]);
    expect(await infos('test', ['labels."containerd.io/gc.root"'])).toEqual([
      digestOf('the quick brown fox'),
    ]);

    const { info } = await unary<any>('update', {
      info: { digest: digestOf('ok'), size: 0, labels: { a: 'b' } },
      updateMask: ['labels.a'],
    });
    expect(info.labels).toEqual({ a: 'b' });
    const bad = await unary<any>('update', {
      info: { digest: digestOf('ok'), size: 0, labels: {} },
      updateMask: ['size'],
    }).catch((e: any) => e);
    expect(bad.code).toBe(status.INVALID_ARGUMENT);

    await unary<any>('delete', { digest: digestOf('ok') });
    expect(published.at(-1)).toMatchObject({ ns: 'test', topic: '/content/delete' });
    expect(await infos('test')).toEqual([digestOf('the quick brown fox')]);
    expect(await infos('other')).toEqual([digestOf('ok')]);
    const invalid = await unary<any>('delete', { digest: 'sha256:nope' }).catch((e: any) => e);
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
  });
});
