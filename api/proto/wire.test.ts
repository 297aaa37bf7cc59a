// Checks the generated code against hand-assembled protobuf bytes, so a wrong
// field number, wire type or package name in api/proto shows up here.
import { describe, expect, it } from 'vitest';
import { Request, Response } from '../gen/ttrpc/request.js';
import {
  ConnectResponse,
  CreateTaskRequest,
  TaskDefinition,
  TaskService,
} from '../gen/containerd/task/v2/shim.js';
import { Options } from '../gen/containerd/runc/v1/oci.js';
import { ForwardRequest } from '../gen/containerd/services/ttrpc/events/v1/events.js';
import { TaskExit } from '../gen/containerd/events/task.js';
import { Metrics as CgroupV2Metrics, MemoryStat } from '../gen/io/containerd/cgroups/v2/metrics.js';
import {
  NamespacesDefinition,
  NamespacesService,
} from '../gen/containerd/services/namespaces/v1/namespace.js';
import {
  ContainersDefinition,
  ContainersService,
} from '../gen/containerd/services/containers/v1/containers.js';
import {
  ContentDefinition,
  ContentService,
} from '../gen/containerd/services/content/v1/content.js';
import { DiffDefinition, DiffService } from '../gen/containerd/services/diff/v1/diff.js';
import { EventsDefinition, EventsService } from '../gen/containerd/services/events/v1/events.js';
import {
  EventsDefinition as TtrpcEventsDefinition,
  EventsService as TtrpcEventsService,
} from '../gen/containerd/services/ttrpc/events/v1/events.js';
import { ImagesDefinition, ImagesService } from '../gen/containerd/services/images/v1/images.js';
import {
  IntrospectionDefinition,
  IntrospectionService,
} from '../gen/containerd/services/introspection/v1/introspection.js';
import { LeasesDefinition, LeasesService } from '../gen/containerd/services/leases/v1/leases.js';
import {
  SnapshotsDefinition,
  SnapshotsService,
} from '../gen/containerd/services/snapshots/v1/snapshots.js';
import { TasksDefinition, TasksService } from '../gen/containerd/services/tasks/v1/tasks.js';
import {
  VersionDefinition,
  VersionService,
} from '../gen/containerd/services/version/v1/version.js';

/** Concatenates raw bytes and UTF-8 strings into one buffer. */
function bytes(...parts: Array<number | string | Uint8Array>): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === 'number'
      ? Uint8Array.of(p)
      : typeof p === 'string'
        ? new TextEncoder().encode(p)
        : p,
  );
  return Uint8Array.from(chunks.flatMap((c) => [...c]));
}

/** A message with every field at its proto3 default, overridden by `fields`. */
function make<T>(fns: { decode(input: Uint8Array): T }, fields: Partial<T>): T {
  return { ...fns.decode(new Uint8Array(0)), ...fields };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('ttrpc envelope', () => {
  it('encodes a Request with service, method, payload, timeout and metadata', () => {
    const payload = CreateTaskRequest.encode(make(CreateTaskRequest, { id: 'abc' })).finish();
    const encoded = Request.encode({
      service: 'containerd.task.v2.Task',
      method: 'Create',
      payload,
      timeoutNano: 5_000_000_000,
      metadata: [{ key: 'containerd-namespace', value: 'default' }],
    }).finish();
    // prettier-ignore
    const expected = bytes(
      0x0a, 23, 'containerd.task.v2.Task', // 1: service
      0x12, 6, 'Create', // 2: method
      0x1a, 5, 0x0a, 3, 'abc', // 3: payload (CreateTaskRequest.id)
      0x20, 0x80, 0xe4, 0x97, 0xd0, 0x12, // 4: timeout_nano varint 5e9
      0x2a, 31, 0x0a, 20, 'containerd-namespace', 0x12, 7, 'default', // 5: metadata
    );
    expect(hex(encoded)).toBe(hex(expected));
    expect(Request.decode(expected).timeoutNano).toBe(5_000_000_000);
  });

  it('encodes an error Response and decodes the empty OK status Go servers send', () => {
    const err = Response.encode({
      status: { code: 5, message: 'not found', details: [] },
      payload: new Uint8Array(0),
    }).finish();
    expect(hex(err)).toBe(hex(bytes(0x0a, 13, 0x08, 5, 0x12, 9, 'not found')));

    const ok = Response.decode(bytes(0x0a, 0, 0x12, 2, 0x08, 42));
    expect(ok.status).toEqual({ code: 0, message: '', details: [] });
    expect(ConnectResponse.decode(ok.payload).shimPid).toBe(42);
  });
});

describe('shim task API', () => {
  it('encodes CreateTaskRequest with rootfs and runc options', () => {
    const options = Options.encode(
      make(Options, { binaryName: 'runc', systemdCgroup: true }),
    ).finish();
    expect(hex(options)).toBe(hex(bytes(0x32, 4, 'runc', 0x48, 1))); // 6: binary_name, 9: systemd_cgroup

    const encoded = CreateTaskRequest.encode(
      make(CreateTaskRequest, {
        id: 'abc',
        bundle: '/run/b',
        rootfs: [{ type: 'overlay', source: 'overlay', target: '', options: ['ro'] }],
        options: { typeUrl: 'containerd.runc.v1.Options', value: options },
      }),
    ).finish();
    // prettier-ignore
    const expected = bytes(
      0x0a, 3, 'abc', // 1: id
      0x12, 6, '/run/b', // 2: bundle
      0x1a, 22, 0x0a, 7, 'overlay', 0x12, 7, 'overlay', 0x22, 2, 'ro', // 3: rootfs Mount
      0x52, 38, 0x0a, 26, 'containerd.runc.v1.Options', 0x12, 8, options, // 10: options Any
    );
    expect(hex(encoded)).toBe(hex(expected));
  });

  it('skips unknown fields when decoding', () => {
    // ConnectResponse{shim_pid=7, version="2"} plus an unknown field 9 (varint).
    const decoded = ConnectResponse.decode(bytes(0x08, 7, 0x48, 1, 0x1a, 1, '2'));
    expect(decoded).toEqual({ shimPid: 7, taskPid: 0, version: '2' });
  });

  it('exposes the 17 Task methods under containerd.task.v2.Task', () => {
    expect(TaskDefinition.fullName).toBe('containerd.task.v2.Task');
    expect(Object.values(TaskDefinition.methods).map((m) => m.name)).toEqual([
      'State',
      'Create',
      'Start',
      'Delete',
      'Pids',
      'Pause',
      'Resume',
      'Checkpoint',
      'Kill',
      'Exec',
      'ResizePty',
      'CloseIO',
      'Update',
      'Wait',
      'Stats',
      'Connect',
      'Shutdown',
    ]);
    expect(TaskService.wait.path).toBe('/containerd.task.v2.Task/Wait');
  });
});

describe('events', () => {
  it('encodes a ttrpc Forward envelope carrying a TaskExit', () => {
    const exit = TaskExit.encode(make(TaskExit, { containerId: 'c' })).finish();
    const encoded = ForwardRequest.encode({
      envelope: {
        timestamp: { seconds: 1_700_000_000, nanos: 5 },
        namespace: 'default',
        topic: '/tasks/exit',
        event: { typeUrl: 'containerd.events.TaskExit', value: exit },
      },
    }).finish();
    // prettier-ignore
    const expected = bytes(
      0x0a, 67, // 1: envelope
      0x0a, 8, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 5, // 1: timestamp
      0x12, 7, 'default', // 2: namespace
      0x1a, 11, '/tasks/exit', // 3: topic
      0x22, 33, 0x0a, 26, 'containerd.events.TaskExit', 0x12, 3, 0x0a, 1, 'c', // 4: event
    );
    expect(hex(encoded)).toBe(hex(expected));
    expect(TtrpcEventsService.forward.path).toBe(
      '/containerd.services.events.ttrpc.v1.Events/Forward',
    );
  });

  it('keeps 64-bit cgroup counters as numbers', () => {
    const metrics = make(CgroupV2Metrics, {
      memory: make(MemoryStat, { usage: 2 ** 40, swapLimit: 1 }),
    });
    const encoded = CgroupV2Metrics.encode(metrics).finish();
    // 4: memory { 32: usage varint 2^40, 35: swap_limit 1 }
    const expected = bytes(0x22, 11, 0x80, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x98, 0x02, 1);
    expect(hex(encoded)).toBe(hex(expected));
    expect(CgroupV2Metrics.decode(encoded).memory?.usage).toBe(2 ** 40);
  });
});

describe('gRPC service definitions', () => {
  // Each pair is the grpc-js service (paths) and the generic definition (names).
  const services = [
    [NamespacesService, NamespacesDefinition],
    [ContainersService, ContainersDefinition],
    [ContentService, ContentDefinition],
    [DiffService, DiffDefinition],
    [EventsService, EventsDefinition],
    [TtrpcEventsService, TtrpcEventsDefinition],
    [ImagesService, ImagesDefinition],
    [IntrospectionService, IntrospectionDefinition],
    [LeasesService, LeasesDefinition],
    [SnapshotsService, SnapshotsDefinition],
    [TasksService, TasksDefinition],
    [VersionService, VersionDefinition],
    [TaskService, TaskDefinition],
  ] as const;

  it('uses /<package>.<Service>/<Method> paths', () => {
    expect(NamespacesService.get.path).toBe('/containerd.services.namespaces.v1.Namespaces/Get');
    expect(ContainersService.listStream.path).toBe(
      '/containerd.services.containers.v1.Containers/ListStream',
    );
    expect(TasksService.deleteProcess.path).toBe(
      '/containerd.services.tasks.v1.Tasks/DeleteProcess',
    );
    expect(IntrospectionService.server.path).toBe(
      '/containerd.services.introspection.v1.Introspection/Server',
    );
    for (const [service, definition] of services) {
      const paths = Object.values(service).map((m) => m.path);
      const fromDefinition = Object.values(definition.methods).map(
        (m) => `/${definition.fullName}/${m.name}`,
      );
      expect(paths).toEqual(fromDefinition);
    }
  });

  it('marks the streaming methods', () => {
    const streaming = services.flatMap(([, definition]) =>
      Object.values(definition.methods)
        .filter((m) => m.requestStream || m.responseStream)
        .map((m) => `${definition.fullName}/${m.name} ${m.requestStream} ${m.responseStream}`),
    );
    expect(streaming.sort()).toEqual([
      'containerd.services.containers.v1.Containers/ListStream false true',
      'containerd.services.content.v1.Content/List false true',
      'containerd.services.content.v1.Content/Read false true',
      'containerd.services.content.v1.Content/Write true true',
      'containerd.services.events.v1.Events/Subscribe false true',
      'containerd.services.snapshots.v1.Snapshots/List false true',
    ]);
  });

  it('writes empty messages as zero bytes', () => {
    expect(ConnectResponse.encode(make(ConnectResponse, {})).finish().length).toBe(0);
  });
});
