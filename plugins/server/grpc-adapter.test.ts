import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ContainersClient,
  ContainersService,
} from '../../api/gen/containerd/services/containers/v1/containers.js';
import { errNotFound } from '../../api/errors.js';
import type { CallContext } from './context.js';
import { adaptService } from './grpc-adapter.js';

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
      adaptService('containerd.services.containers.v1.Containers', ContainersService, {
        get: async (req: { id: string }, ctx: CallContext) => {
          seen.push(ctx);
          throw errNotFound(`container ${JSON.stringify(req.id)}`);
        },
        async *listStream(_req: unknown, ctx: CallContext) {
          for (const id of ['a', 'b']) yield { container: { id, labels: {}, extensions: {} } };
          seen.push(ctx);
        },
      }),
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

  it('answers UNIMPLEMENTED for methods the local service lacks', async () => {
    const err = await new Promise<any>((r) => client.delete({ id: 'x' }, md('a'), (e) => r(e)));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toMatch(/Containers\.Delete is not implemented/);
  });

  it('streams server responses', async () => {
    const ids: string[] = [];
    for await (const m of client.listStream({ filters: [] }, md('a'))) ids.push(m.container.id);
    expect(ids).toEqual(['a', 'b']);
  });
});
