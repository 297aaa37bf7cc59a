// Compares our .proto files with the API the installed containerd 1.6 was
// built with. Go protobuf binaries embed every registered file descriptor as
// a gzipped FileDescriptorProto; we pull those out of the containerd and
// runc-shim executables and check that every message, enum and service they
// declare for the containerd API, cgroup metrics and google.rpc.Status exists
// in ours with identical field numbers, names, labels and types.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { fromBinary } from '@bufbuild/protobuf';
import {
  type DescriptorProto,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';

const protoDir = dirname(fileURLToPath(import.meta.url));
const binaries = ['/usr/bin/containerd', '/usr/bin/containerd-shim-runc-v2'].filter((p) =>
  existsSync(p),
);
const haveProtoc = spawnSync('protoc', ['--version']).status === 0;

/** Descriptors of the files we restate; the rest (k8s, grpc, gogo) are ignored. */
const RESTATED =
  /^(github\.com\/containerd\/containerd\/(api|runtime\/v2)\/|github\.com\/containerd\/cgroups\/|google\/rpc\/status\.proto$)/;

// A gzip member header as Go's compress/gzip writes it (no name, mtime 0).
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]);
// Compressed descriptors are far smaller than this; it bounds each attempt.
const MAX_MEMBER = 1 << 20;

function embeddedDescriptors(binary: string): FileDescriptorProto[] {
  const data = readFileSync(binary);
  const found: FileDescriptorProto[] = [];
  for (let i = data.indexOf(GZIP_HEADER); i >= 0; i = data.indexOf(GZIP_HEADER, i + 1)) {
    let raw: Buffer;
    try {
      raw = gunzipSync(data.subarray(i, i + MAX_MEMBER));
    } catch {
      continue; // a byte pattern that only looks like a header
    }
    // A FileDescriptorProto starts with field 1 (name).
    if (raw[0] !== 0x0a) continue;
    const name = raw.subarray(2, 2 + raw[1]!).toString('latin1');
    if (!RESTATED.test(name)) continue;
    found.push(fromBinary(FileDescriptorProtoSchema, raw));
  }
  return found;
}

function ourDescriptors(): FileDescriptorProto[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.proto')) files.push(relative(protoDir, path));
    }
  };
  walk(protoDir);
  const out = mkdtempSync(join(tmpdir(), 'berth-proto-'));
  try {
    const set = join(out, 'set.pb');
    const res = spawnSync(
      'protoc',
      ['-I', protoDir, '-I', '/usr/include', `--descriptor_set_out=${set}`, ...files],
      { encoding: 'utf8' },
    );
    if (res.status !== 0) throw new Error(`protoc failed: ${res.stderr}`);
    return fromBinary(FileDescriptorSetSchema, readFileSync(set)).file;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Wire-relevant shape of every message, enum and service, by full name. */
function shapes(files: FileDescriptorProto[]): Map<string, string> {
  const out = new Map<string, string>();
  const enumShape = (values: { name: string; number: number }[]) =>
    JSON.stringify(values.map((v) => [v.name, v.number]));
  const addMessage = (msg: DescriptorProto, scope: string): void => {
    const name = `${scope}.${msg.name}`;
    const fields = msg.field
      .map((f) => [f.number, f.name, f.label, f.type, f.typeName, f.oneofIndex ?? null])
      .sort((a, b) => (a[0] as number) - (b[0] as number));
    out.set(`message ${name}`, JSON.stringify({ mapEntry: !!msg.options?.mapEntry, fields }));
    for (const nested of msg.nestedType) addMessage(nested, name);
    for (const e of msg.enumType) out.set(`enum ${name}.${e.name}`, enumShape(e.value));
  };
  for (const file of files) {
    const scope = `.${file.package}`;
    for (const msg of file.messageType) addMessage(msg, scope);
    for (const e of file.enumType) out.set(`enum ${scope}.${e.name}`, enumShape(e.value));
    for (const svc of file.service) {
      const methods = svc.method.map((m) => [
        m.name,
        m.inputType,
        m.outputType,
        m.clientStreaming,
        m.serverStreaming,
      ]);
      out.set(`service ${scope}.${svc.name}`, JSON.stringify(methods));
    }
  }
  return out;
}

describe('parity with the installed containerd', () => {
  it.skipIf(binaries.length === 0 || !haveProtoc)(
    'declares every embedded containerd message, enum and service identically',
    () => {
      const reference = shapes(binaries.flatMap(embeddedDescriptors));
      // Task API, shim API, events, types, runc options, cgroup metrics.
      for (const key of [
        'service .containerd.services.tasks.v1.Tasks',
        'service .containerd.task.v2.Task',
        'message .containerd.events.TaskExit',
        'message .containerd.runc.v1.Options',
        'message .io.containerd.cgroups.v2.Metrics',
        'message .google.rpc.Status',
      ]) {
        expect(reference.has(key), key).toBe(true);
      }

      const ours = shapes(ourDescriptors());
      const mismatches = [...reference]
        .filter(([key, shape]) => ours.get(key) !== shape)
        .map(([key, shape]) => `${key}\n  containerd: ${shape}\n  ours:       ${ours.get(key)}`);
      expect(mismatches).toEqual([]);
    },
  );
});
