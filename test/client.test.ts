// The Node client library against a real berthd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.js';
import { BerthError } from '../core/errors/catalogue.js';
import { eventToJSON } from '../core/events/types.js';
import { OCI_SPEC_TYPE_URL, packJson, unpackJson } from '../core/protobuf/typeurl.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';

const runtime = { name: 'io.containerd.runc.v2', options: undefined };
const spec = packJson(OCI_SPEC_TYPE_URL, { process: { args: ['true'] } });

describe('Client', () => {
  let d: TestDaemon;
  let client: Client;
  beforeAll(async () => {
    d = await startDaemon();
    client = new Client({ address: d.address, namespace: 'lib' });
  });
  afterAll(async () => {
    client?.close();
    await d?.dispose();
  });

  it('reads version and server identity', async () => {
    const v = await client.version();
    expect(v.version).toMatch(/^v\d+\.\d+\.\d+/);
    const a = await client.introspection.server();
    const b = await client.introspection.server();
    expect(a.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.uuid).toBe(a.uuid);
  });

  it('keeps the server UUID across restarts', async () => {
    const before = (await client.introspection.server()).uuid;
    await d.stop();
    await d.restart();
    expect((await client.introspection.server()).uuid).toBe(before);
  });

  it('filters plugins', async () => {
    const grpc = await client.introspection.plugins(['type==io.berth.grpc.v1']);
    expect(grpc.map((p) => p.id)).toEqual(
      expect.arrayContaining(['containers', 'namespaces', 'events']),
    );
    expect(grpc.every((p) => p.type === 'io.berth.grpc.v1' && !p.initErr)).toBe(true);
  });

  it('manages namespaces with labels', async () => {
    const other = client.withNamespace('default');
    await other.namespaces.create('lib-ns', { a: '1', b: '2' });
    expect((await other.namespaces.setLabels('lib-ns', { a: '', c: '3' })).labels).toEqual({
      b: '2',
      c: '3',
    });
    expect((await other.namespaces.get('lib-ns')).labels).toEqual({ b: '2', c: '3' });
    await other.namespaces.delete('lib-ns');
    await expect(other.namespaces.get('lib-ns')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('creates, updates with field masks and deletes containers', async () => {
    const c = await client.containers.create({ id: 'svc', labels: { app: 'svc' }, runtime, spec });
    expect(c.createdAt!.seconds).toBeGreaterThan(0);
    const updated = await client.containers.update(
      { id: 'svc', image: 'example.com/svc:2', labels: { app: 'ignored', tier: 'x' } },
      ['image', 'labels.tier'],
    );
    expect(updated.image).toBe('example.com/svc:2');
    expect(updated.labels).toEqual({ app: 'svc', tier: 'x' });
    expect(unpackJson(updated.spec)).toEqual({ process: { args: ['true'] } });
    // runtime is immutable.
    await expect(
      client.containers.update({ id: 'svc', runtime: { name: 'other', options: undefined } }, [
        'runtime',
      ]),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect((await client.containers.list('labels.tier==x')).map((x) => x.id)).toEqual(['svc']);
    expect(await client.containers.list('labels.tier==y')).toEqual([]);
    await client.containers.delete('svc');
    await expect(client.containers.get('svc')).rejects.toBeInstanceOf(BerthError);
  });

  it('maps errors to codes', async () => {
    await client.containers.create({ id: 'dup', runtime, spec });
    await expect(client.containers.create({ id: 'dup', runtime, spec })).rejects.toMatchObject({
      code: 'AlreadyExists',
    });
    await expect(client.containers.create({ id: 'bad id', runtime, spec })).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    await expect(
      client.containers.create({
        id: 'noruntime',
        runtime: { name: '', options: undefined },
        spec,
      }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(client.namespaces.delete('lib')).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    await expect(client.containers.delete('missing')).rejects.toMatchObject({ code: 'NotFound' });
    await client.containers.delete('dup');
  });

  it('streams events in order through an async iterator', async () => {
    const abort = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const ev of client.events.subscribe(
        ['topic~="/containers/"', 'topic=="/test/x"'],
        abort.signal,
      )) {
        seen.push(`${ev.namespace} ${ev.topic} ${JSON.stringify(eventToJSON(ev.event))}`);
        if (seen.length === 4) abort.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await client.containers.create({ id: 'ev1', runtime, spec });
    await client.containers.setLabels('ev1', { k: 'v' });
    await client.containers.delete('ev1');
    await client.events.publish('/test/x', {
      typeUrl: 'example.Custom',
      value: new Uint8Array([1]),
    });
    await done;
    expect(seen).toEqual([
      'lib /containers/create {"id":"ev1","runtime":{"name":"io.containerd.runc.v2"}}',
      'lib /containers/update {"id":"ev1","labels":{"k":"v"}}',
      'lib /containers/delete {"id":"ev1"}',
      'lib /test/x undefined',
    ]);
  });

  it('rejects invalid topics', async () => {
    await expect(
      client.events.publish('no-slash', { typeUrl: 'x', value: new Uint8Array() }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
