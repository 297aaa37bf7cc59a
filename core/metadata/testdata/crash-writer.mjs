// Crash-test writer: creates containers through MetadataDB as fast as it can
// and prints each id once its create has resolved (been acknowledged). The
// parent SIGKILLs this process mid-stream and checks every printed id survived.
//
// usage: node crash-writer.mjs <bundled metadata module> <db dir> <id prefix>
import { pathToFileURL } from 'node:url';

const [modulePath, dir, prefix] = process.argv.slice(2);
const { MetadataDB } = await import(pathToFileURL(modulePath).href);
const db = await MetadataDB.open(dir);
process.stdout.write('ready\n');

const CONCURRENCY = 8;
let next = 0;
async function writer() {
  for (;;) {
    const n = next++;
    const id = `${prefix}-${n}`;
    await db.containers.create('crash', {
      id,
      labels: { seq: String(n), prefix },
      image: `example.com/img:${n}`,
      runtime: { name: 'io.containerd.runc.v2' },
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
        value: new TextEncoder().encode(`{"n":${n}}`),
      },
      snapshotter: 'overlayfs',
      snapshotKey: id,
      extensions: { blob: { typeUrl: 'x.test/Blob', value: new Uint8Array(256).fill(n & 0xff) } },
    });
    process.stdout.write(`${id}\n`);
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, writer));
