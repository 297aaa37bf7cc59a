import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ContainersService,
  type ListContainersRequest,
  type ListContainersResponse,
} from '../api/gen/containerd/services/containers/v1/containers.js';
import { Client } from './client.js';

// A daemon that predates ListStream: only the unary List is served, so the
// stream is answered UNIMPLEMENTED and the client must fall back.
describe('containers.list against a daemon without ListStream', () => {
  let dir: string;
  let server: Server;
  let client: Client;
  const seen: string[][] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-list-'));
    server = new Server();
    server.addService(ContainersService, {
      list(
        call: ServerUnaryCall<ListContainersRequest, ListContainersResponse>,
        cb: sendUnaryData<ListContainersResponse>,
      ) {
        seen.push(call.request.filters);
        cb(null, {
          containers: [
            {
              id: 'old',
              labels: {},
              image: '',
              runtime: { name: 'io.containerd.runc.v2', options: undefined },
              spec: undefined,
              snapshotter: '',
              snapshotKey: '',
              createdAt: undefined,
              updatedAt: undefined,
              extensions: {},
            },
          ],
        });
      },
    });
    const address = path.join(dir, 'old.sock');
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${address}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    client = new Client({ address });
  });

  afterAll(async () => {
    client?.close();
    await new Promise<void>((resolve) =>
      server ? server.tryShutdown(() => resolve()) : resolve(),
    );
    await rm(dir, { recursive: true, force: true });
  });

  it('falls back to the unary List with the same filters', async () => {
    expect((await client.containers.list('id==old')).map((c) => c.id)).toEqual(['old']);
    expect(seen).toEqual([['id==old']]);
  });
});
