import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../core/errors/catalogue.js';
import { checkLocation, writeArchive } from './checkpoint.js';

async function entries(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        out.set(h.name, h.type === 'directory' ? '<dir>' : Buffer.concat(chunks).toString());
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from(await fs.readFile(file)).pipe(extract);
  await done;
  return out;
}

describe('checkpoint archive', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-ckpt-'));
  });

  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('tars the checkpoint directory and metadata files, private to root, through a temporary file', async () => {
    const src = path.join(dir, 'archive');
    await fs.mkdir(path.join(src, 'checkpoint'), { recursive: true });
    await fs.writeFile(path.join(src, 'checkpoint', 'inventory.img'), 'criu');
    await fs.writeFile(path.join(src, 'config.dump'), '{"id":"c1"}');
    await fs.writeFile(path.join(src, 'spec.dump'), '{}');
    const out = path.join(dir, 'out', 'c1.tar');
    await fs.mkdir(path.dirname(out));
    await writeArchive(src, out);
    const got = await entries(out);
    expect(got.get('checkpoint/inventory.img')).toBe('criu');
    expect(got.get('config.dump')).toBe('{"id":"c1"}');
    expect(got.get('spec.dump')).toBe('{}');
    expect(got.get('checkpoint/')).toBe('<dir>');
    expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
    expect(await fs.readdir(path.dirname(out))).toEqual(['c1.tar']);
  });

  it('leaves nothing behind when the archive cannot be written', async () => {
    const out = path.join(dir, 'c1.tar');
    await expect(writeArchive(path.join(dir, 'missing'), out)).rejects.toThrow();
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('wants an absolute location in an existing directory', async () => {
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e) => (isBerthError(e) ? e.code : String(e)),
      );
    expect(await code(checkLocation(''))).toBe('InvalidArgument');
    expect(await code(checkLocation('rel/c.tar'))).toBe('InvalidArgument');
    expect(await code(checkLocation(path.join(dir, 'nodir', 'c.tar')))).toBe('InvalidArgument');
    expect(await code(checkLocation(dir))).toBe('InvalidArgument');
    expect(await code(checkLocation(path.join(dir, 'c.tar')))).toBe('ok');
  });
});
