// An acknowledged metadata write must survive the daemon being SIGKILLed.
// The writer runs in a child process (plain Node, so the TypeScript module is
// bundled with esbuild first); the parent kills it mid-stream, reopens the
// database and checks every acknowledged record is there and parses fully.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetadataDB } from '../core/metadata/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const writerScript = join(root, 'core/metadata/testdata/crash-writer.mjs');
const ROUNDS = 3;
const ACKS_BEFORE_KILL = 150;

let work: string;
let bundle: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-meta-crash-'));
  bundle = join(work, 'metadata.mjs');
  // classic-level is a native addon: keep it external, pointed at its absolute
  // path so the bundle in the temp directory still finds it.
  const classicLevel = createRequire(import.meta.url).resolve('classic-level');
  await build({
    entryPoints: [join(root, 'core/metadata/index.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    plugins: [
      {
        name: 'classic-level-external',
        setup(b) {
          b.onResolve({ filter: /^classic-level$/ }, () => ({
            path: classicLevel,
            external: true,
          }));
        },
      },
    ],
  });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Run the writer until it has acknowledged `count` creates, then SIGKILL it. */
function writeUntilKilled(dir: string, prefix: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writerScript, bundle, dir, prefix], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: string[] = [];
    let buffered = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line !== 'ready') acked.push(line);
      if (!killed && acked.length >= count) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL' && killed) resolve(acked);
      else reject(new Error(`writer exited early (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

describe('metadata durability', () => {
  it('keeps every acknowledged create across SIGKILL', async () => {
    const dir = join(work, 'db');
    const acknowledged: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      acknowledged.push(...(await writeUntilKilled(dir, `r${round}`, ACKS_BEFORE_KILL)));
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(ROUNDS * ACKS_BEFORE_KILL);

    const db = await MetadataDB.open(dir);
    try {
      // list() decodes every record in full, so any torn record fails here.
      const stored = new Map((await db.containers.list('crash')).map((c) => [c.id, c]));
      const missing = acknowledged.filter((id) => !stored.has(id));
      expect(missing).toEqual([]);
      for (const id of acknowledged) {
        const c = stored.get(id)!;
        const n = Number(c.labels.seq);
        expect(id).toBe(`${c.labels.prefix}-${n}`);
        expect(c.image).toBe(`example.com/img:${n}`);
        expect(c.snapshotKey).toBe(id);
        expect(new TextDecoder().decode(c.spec!.value)).toBe(`{"n":${n}}`);
        expect(c.extensions.blob!.value).toEqual(new Uint8Array(256).fill(n & 0xff));
      }
      expect(await db.namespaces.get('crash')).toEqual({ name: 'crash', labels: {} });
    } finally {
      await db.close();
    }
  });
});
