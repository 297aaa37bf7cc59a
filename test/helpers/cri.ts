// A CRI client for tests: grpc-js with the generated runtime.v1 clients, every
// unary call promisified, plus image import into namespace k8s.io and CNI setup.

import {
  type ClientReadableStream,
  credentials,
  type Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client } from '../../client/client.js';
import { withLease } from '../../client/leased.js';
import {
  type ContainerEventResponse,
  ImageServiceClient,
  ImageServiceDefinition,
  RuntimeServiceClient,
  RuntimeServiceDefinition,
} from '../../api/gen/cri/runtime/v1/api.js';
import { MNT, umount2 } from '../../native/index.js';
import { type BuiltImage, busyboxImage, pauseImage } from '../fixtures/image-builder.js';
import { type TestDaemon, startDaemon } from './daemon.js';

type Methods = Record<
  string,
  {
    requestType: { fromJSON(o: unknown): unknown };
    responseType: { decode(b: Uint8Array): unknown };
    requestStream: boolean;
    responseStream: boolean;
  }
>;
/** Unary methods as promises; requests are plain objects in the proto JSON shape (missing fields default). */
type Promised<D extends { methods: Methods }> = {
  [K in keyof D['methods'] as D['methods'][K]['responseStream'] extends true ? never : K]: (
    req?: Record<string, unknown>,
  ) => Promise<ReturnType<D['methods'][K]['responseType']['decode']>>;
};

function promised<D extends { methods: Methods }>(def: D, client: object): Promised<D> {
  return new Proxy({} as Promised<D>, {
    get(_t, prop: string) {
      const m = def.methods[prop];
      if (!m) throw new Error(`no method ${prop}`);
      const fn = (client as Record<string, Function>)[prop]!;
      return (req: Record<string, unknown> = {}) =>
        new Promise((resolve, reject) =>
          fn.call(client, m.requestType.fromJSON(req), (err: ServiceError | null, res: unknown) =>
            err ? reject(err) : resolve(res),
          ),
        );
    },
  });
}

export interface CriClient {
  runtime: Promised<typeof RuntimeServiceDefinition>;
  image: Promised<typeof ImageServiceDefinition>;
  events(): ClientReadableStream<ContainerEventResponse>;
  close(): void;
}

export function criClient(address: string): CriClient {
  const target = `unix://${address}`;
  const rs = new RuntimeServiceClient(target, credentials.createInsecure());
  const is = new ImageServiceClient(target, credentials.createInsecure());
  return {
    runtime: promised(RuntimeServiceDefinition, rs),
    image: promised(ImageServiceDefinition, is),
    events: () => rs.getContainerEvents({}),
    close: () => {
      rs.close();
      is.close();
    },
  };
}

/** Loads a built image's blobs and record into the daemon's k8s.io namespace. */
export async function importImage(address: string, img: BuiltImage): Promise<void> {
  const c = new Client({ address, namespace: 'k8s.io' });
  try {
    // Under a lease, as every importer works: the collector may run between the
    // blobs and the image record, and must not take the blobs meanwhile.
    await withLease(c, async (leased) => {
      // The manifest references its config and layers for the garbage collector, as an unpacker's import would.
      const refs: Record<string, string> = {
        'containerd.io/gc.ref.content.config': img.config.digest,
      };
      img.layers.forEach((l, i) => (refs[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
      const order = [...img.layers.map((l) => l.digest), img.config.digest, img.manifest.digest];
      for (const digest of order) {
        const data = img.blobs.get(digest)!;
        await leased.content.ingest(
          `import-${digest}`,
          (async function* () {
            yield data;
          })(),
          {
            expectedDigest: digest,
            expectedSize: data.length,
            labels: digest === img.manifest.digest ? refs : undefined,
          },
        );
      }
      await leased.images.create({ name: img.ref, labels: {}, target: img.manifest });
    });
  } finally {
    c.close();
  }
}

export interface TestNetwork {
  confDir: string;
  bridge: string;
  subnet: string;
  dispose(): Promise<void>;
}

/** A bridge + host-local conflist unique to the test; dispose removes the bridge and its NAT rules. */
export async function testNetwork(
  dir: string,
  octet = 10 + (process.pid % 200),
): Promise<TestNetwork> {
  const confDir = path.join(dir, 'net.d');
  await fs.mkdir(confDir, { recursive: true });
  const bridge = `brt${randomBytes(3).toString('hex')}`;
  const subnet = `10.${octet}.${Math.floor(Math.random() * 250)}.0/24`;
  const conf = {
    cniVersion: '0.4.0',
    name: `berth-test-${bridge}`,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: path.join(dir, 'ipam') },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  await fs.writeFile(path.join(confDir, '10-berth-test.conflist'), JSON.stringify(conf));
  return {
    confDir,
    bridge,
    subnet,
    async dispose() {
      try {
        execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
      } catch {
        /* never created, or already gone */
      }
    },
  };
}

export function grpcCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

export type { Metadata };

export interface CriEnv {
  work: string;
  net: TestNetwork;
  d: TestDaemon;
  cri: CriClient;
  /** Removes every pod through the CRI, stops the daemon, unmounts leftovers, removes the bridge and files. */
  dispose(): Promise<void>;
}

/**
 * A berthd with the CRI plugin on a test-only bridge network, the pause and
 * busybox fixtures imported into k8s.io. `extraCriConfig` is appended to the
 * plugin's table (e.g. `registry_config_path = "…"`); `topLevelConfig` goes
 * before it (e.g. a `[metrics]` table).
 */
export async function startCriEnv(
  opts: { extraCriConfig?: string; importImages?: boolean; topLevelConfig?: string } = {},
): Promise<CriEnv> {
  const work = await fs.mkdtemp('/tmp/berth-cri-');
  const net = await testNetwork(work);
  let d: TestDaemon | undefined;
  let cri: CriClient | undefined;
  const dispose = async () => {
    if (cri) {
      // Through the CRI first, so netns, CNI allocations and mounts are undone.
      const pods = await cri.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
      for (const p of pods.items)
        await cri.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => {});
      cri.close();
    }
    const dir = d?.dir;
    await d?.dispose();
    if (dir) await unmountUnder(dir);
    await net.dispose();
    await fs.rm(work, { recursive: true, force: true });
  };
  try {
    d = await startDaemon({
      config: [
        'version = 1',
        opts.topLevelConfig ?? '',
        '[plugins."io.berth.grpc.v1.cri"]',
        'sandbox_image = "registry.k8s.io/pause:3.9"',
        opts.extraCriConfig ?? '',
        '[plugins."io.berth.grpc.v1.cri".cni]',
        `conf_dir = "${net.confDir}"`,
        'bin_dirs = ["/usr/lib/cni"]',
        '',
      ].join('\n'),
    });
    cri = criClient(d.address);
    if (opts.importImages !== false) {
      await importImage(d.address, await pauseImage());
      await importImage(d.address, await busyboxImage());
    }
  } catch (err) {
    await dispose();
    throw err;
  }
  return { work, net, d, cri, dispose };
}

/** Detaches every mount below `dir` (deepest first): nothing of a test daemon may outlive it. */
export async function unmountUnder(dir: string): Promise<void> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const left = info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
  for (const m of left.sort().reverse()) {
    try {
      umount2(m, MNT.DETACH);
    } catch {
      /* already gone */
    }
  }
}

/** A pod config in the JSON shape the test client takes. */
export function podConfig(name: string, logDir: string, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: logDir,
    labels: { app: name },
    linux: {},
    ...extra,
  };
}

/**
 * Polls `fn` until `ok` holds for its result and returns that result; fails
 * (naming the last result) when the time runs out first.
 */
export async function waitFor<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() >= deadline) {
      const last =
        typeof v === 'string' ? v.slice(-500) : JSON.stringify(v, bigintSafe)?.slice(0, 500);
      throw new Error(`condition not met within ${timeoutMs} ms; last value: ${last}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

const bigintSafe = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
