import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../errors/catalogue.js';
import { digestOf, parseDigest } from './digest.js';
import { LocalContentStore } from './store.js';

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return (err as BerthError).code;
  }
  return 'OK';
};

async function collect(it: AsyncIterable<{ offset: number; data: Buffer }>) {
  const chunks: { offset: number; data: Buffer }[] = [];
  for await (const c of it) chunks.push(c);
  return chunks;
}

describe('digest', () => {
  it('accepts sha256 and sha512 in strict form only', () => {
    expect(parseDigest(digestOf('x'))).toMatchObject({ algorithm: 'sha256' });
    expect(parseDigest(digestOf('x', 'sha512'))).toMatchObject({ algorithm: 'sha512' });
    const hex = 'a'.repeat(64);
    for (const bad of [
      '',
      hex,
      `sha256:${hex.toUpperCase()}`,
      `sha256:${hex}0`,
      `sha256:${hex.slice(1)}`,
      `md5:${hex}`,
      `sha256:../${hex.slice(3)}`,
      `SHA256:${hex}`,
      `sha512:${hex}`,
    ]) {
      expect(() => parseDigest(bad), bad).toThrow(BerthError);
    }
  });
});

describe('LocalContentStore', () => {
  let root: string;
  let store: LocalContentStore;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'berth-content-'));
    store = await LocalContentStore.open(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('commits a verified blob under blobs/<alg>/<hex> and removes the ingest', async () => {
    const data = Buffer.from('hello content');
    const dgst = digestOf(data);
    const w = await store.writer('ref-1', { total: data.length, expected: dgst });
    await w.write(data.subarray(0, 5));
    expect(w.digest()).toBe(digestOf(data.subarray(0, 5)));
    await w.write(data.subarray(5), 5);
    expect(await w.commit()).toBe(dgst);
    expect(await readFile(path.join(root, 'blobs', 'sha256', parseDigest(dgst).hex))).toEqual(data);
    expect(await readdir(path.join(root, 'ingest'))).toEqual([]);
    expect((await store.info(dgst)).size).toBe(data.length);
    expect(await code(store.status('ref-1'))).toBe('NotFound');
  });

  it('verifies size and digest at commit and publishes nothing on mismatch', async () => {
    const w1 = await store.writer('size');
    await w1.write(Buffer.from('abc'));
    expect(await code(w1.commit(4))).toBe('FailedPrecondition');
    // The ingest is kept for the writer to fix up or abort.
    expect((await store.status('size')).offset).toBe(3);

    const wrong = digestOf('something else');
    const w2 = await store.writer('digest', { expected: wrong });
    await w2.write(Buffer.from('abc'));
    expect(await code(w2.commit())).toBe('FailedPrecondition');
    expect(await code(store.info(wrong))).toBe('NotFound');
    expect(await code(store.info(digestOf('abc')))).toBe('NotFound');
    expect(existsSync(path.join(root, 'blobs', 'sha256'))).toBe(false);
  });

  it('verifies sha512 expectations with sha512', async () => {
    const data = Buffer.from('five twelve');
    const w = await store.writer('s512');
    await w.write(data);
    expect(await w.commit(0, digestOf(data, 'sha512'))).toBe(digestOf(data, 'sha512'));
    const got = await collect(store.read(digestOf(data, 'sha512')));
    expect(Buffer.concat(got.map((c) => c.data))).toEqual(data);
  });

  it('resumes an ingest at its offset with the running digest rebuilt', async () => {
    const data = Buffer.from('0123456789');
    const w1 = await store.writer('resume', { total: 10 });
    await w1.write(data.subarray(0, 4));
    await w1.close();

    const s = await store.status('resume');
    expect(s).toMatchObject({ ref: 'resume', offset: 4, total: 10, expected: '' });

    const w2 = await store.writer('resume');
    expect(w2.status()).toMatchObject({ offset: 4, total: 10 });
    expect(w2.digest()).toBe(digestOf(data.subarray(0, 4)));
    expect(await code(w2.write(data.subarray(4), 0))).toBe('FailedPrecondition');
    expect(await code(w2.write(data.subarray(4), 7))).toBe('FailedPrecondition');
    await w2.write(data.subarray(4), 4);
    expect(await w2.commit(10, digestOf(data))).toBe(digestOf(data));
  });

  it('refuses to resume with a different total', async () => {
    const w = await store.writer('t', { total: 5 });
    await w.close();
    expect(await code(store.writer('t', { total: 6 }))).toBe('FailedPrecondition');
    // and the ref is not left locked by the failed attempt
    await (await store.writer('t', { total: 5 })).close();
  });

  it('truncates to zero to restart an ingest', async () => {
    const w = await store.writer('trunc');
    await w.write(Buffer.from('garbage'));
    await w.truncate(0);
    await w.write(Buffer.from('good'));
    expect(await w.commit()).toBe(digestOf('good'));
  });

  it('locks a ref to one writer at a time', async () => {
    const w = await store.writer('locked');
    const err = await store.writer('locked').catch((e: BerthError) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('Unavailable');
    expect((err as BerthError).message).toMatch(/ref locked locked/);
    // Other refs are independent.
    await (await store.writer('other')).close();
    await w.close();
    await w.close(); // idempotent, and does not release someone else's lock
    const again = await store.writer('locked');
    await w.close();
    expect(await code(store.writer('locked'))).toBe('Unavailable');
    await again.close();
  });

  it('answers AlreadyExists for an existing blob and removes the ingest', async () => {
    const put = async (ref: string) => {
      const w = await store.writer(ref);
      await w.write(Buffer.from('same'));
      return w.commit();
    };
    await put('first');
    expect(await code(put('second'))).toBe('AlreadyExists');
    expect(await readdir(path.join(root, 'ingest'))).toEqual([]);
  });

  it('lets concurrent writers of the same content both end with one intact blob', async () => {
    const data = Buffer.alloc(3 << 20, 7);
    const results = await Promise.allSettled(
      ['a', 'b', 'c'].map(async (ref) => {
        const w = await store.writer(ref, { total: data.length });
        for (let i = 0; i < data.length; i += 1 << 20)
          await w.write(data.subarray(i, i + (1 << 20)));
        return w.commit();
      }),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as BerthError).code).toBe('AlreadyExists');
    }
    const back = await readFile(store.blobPath(digestOf(data)));
    expect(back.equals(data)).toBe(true);
  });

  it('never exposes a partial blob under a digest name', async () => {
    const data = Buffer.alloc(2 << 20, 1);
    const dgst = digestOf(data);
    const w = await store.writer('partial', { expected: dgst });
    await w.write(data.subarray(0, 1 << 20));
    expect(await code(store.info(dgst))).toBe('NotFound');
    let seen = 0;
    await store.walk(() => void seen++);
    expect(seen).toBe(0);
    await w.close();
    // A crash leaves only the ingest behind; reopening the store shows no blob.
    const reopened = await LocalContentStore.open(root);
    expect(await code(reopened.info(dgst))).toBe('NotFound');
    expect((await reopened.status('partial')).offset).toBe(1 << 20);
  });

  it('removes at open the ingest directories a crash left before their data existed', async () => {
    await (await store.writer('kept')).close();
    // What a kill between creating the directory and its data file leaves.
    const ingest = path.join(root, 'ingest');
    const before = new Set(await readdir(ingest));
    await (await store.writer('cut-short')).close();
    const [cut] = (await readdir(ingest)).filter((n) => !before.has(n));
    await rm(path.join(ingest, cut!, 'data'));
    const reopened = await LocalContentStore.open(root);
    expect(await readdir(ingest)).toEqual([...before]);
    expect((await reopened.listStatuses()).map((s) => s.ref)).toEqual(['kept']);
    expect(await code(reopened.status('cut-short'))).toBe('NotFound');
  });

  it('lists statuses with ref filters and a prefix, and aborts', async () => {
    for (const ref of ['ns1/layer-1', 'ns1/config', 'ns2/layer-1'])
      await (await store.writer(ref)).close();
    const refs = async (f: string[], p?: string) =>
      (await store.listStatuses(f, p)).map((s) => s.ref).sort();
    expect(await refs([])).toEqual(['ns1/config', 'ns1/layer-1', 'ns2/layer-1']);
    expect(await refs([''])).toHaveLength(3);
    expect(await refs([], 'ns1/')).toEqual(['ns1/config', 'ns1/layer-1']);
    expect(await refs(['ref~=layer'])).toEqual(['ns1/layer-1', 'ns2/layer-1']);
    expect(await refs(['ref==ns1/config'])).toEqual(['ns1/config']);
    expect(await code(store.listStatuses(['ref~=(']))).toBe('InvalidArgument');

    await store.abort('ns1/config');
    expect(await code(store.status('ns1/config'))).toBe('NotFound');
    expect(await code(store.abort('ns1/config'))).toBe('NotFound');
  });

  it('fails the commit of an aborted ingest', async () => {
    const w = await store.writer('gone');
    await w.write(Buffer.from('x'));
    await store.abort('gone');
    expect(await code(w.commit())).toBe('NotFound');
    expect(await code(store.info(digestOf('x')))).toBe('NotFound');
  });

  it('reads with offset and size in bounded chunks', async () => {
    const data = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
    const w = await store.writer('r');
    await w.write(data);
    const dgst = await w.commit();
    const all = await collect(store.read(dgst, 0, 0, 30));
    expect(all.map((c) => c.offset)).toEqual([0, 30, 60, 90]);
    expect(Buffer.concat(all.map((c) => c.data))).toEqual(data);
    const mid = await collect(store.read(dgst, 10, 15));
    expect(Buffer.concat(mid.map((c) => c.data))).toEqual(data.subarray(10, 25));
    const tail = await collect(store.read(dgst, 95, 1000));
    expect(Buffer.concat(tail.map((c) => c.data))).toEqual(data.subarray(95));
    expect(await collect(store.read(dgst, 100))).toEqual([]);
    expect(await code(collect(store.read(dgst, 101)))).toBe('OutOfRange');
    const r = await store.readerAt(dgst);
    expect(r.size).toBe(100);
    expect(await r.readAt(98, 10)).toEqual(data.subarray(98));
    await r.close();
  });

  it('validates digests at every entry point', async () => {
    const bad = 'sha256:../../etc/passwd';
    for (const p of [
      store.info(bad),
      store.readerAt(bad),
      store.delete(bad),
      collect(store.read(bad)),
      store.writer('x', { expected: bad }),
    ]) {
      expect(await code(p)).toBe('InvalidArgument');
    }
    expect(await code(store.writer(''))).toBe('InvalidArgument');
  });

  it('walks valid blobs only and deletes', async () => {
    const w = await store.writer('w');
    await w.write(Buffer.from('walk me'));
    const dgst = await w.commit();
    await writeFile(path.join(root, 'blobs', 'sha256', 'not-a-digest'), 'x');
    const seen: string[] = [];
    await store.walk((i) => void seen.push(i.digest));
    expect(seen).toEqual([dgst]);
    await store.delete(dgst);
    expect(await code(store.delete(dgst))).toBe('NotFound');
    expect(await code(store.info(dgst))).toBe('NotFound');
  });
});
