import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { errInternal, errNotFound } from '../../core/errors/catalogue.js';
import { RuntimeServiceService } from '../../api/gen/cri/runtime/v1/api.js';
import type { CallContext } from '../server/context.js';
import { requestFields, withCallLogging } from './call-logging.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'debug' }, sink) };
}

const ctx: CallContext = { namespace: 'k8s.io', signal: new AbortController().signal };
const flush = () => new Promise((r) => setImmediate(r));
type Methods = Record<string, (req: object, ctx: CallContext) => unknown>;
const call = (svc: Methods, method: string, req: object) => svc[method]!(req, ctx);

describe('CRI call logging', () => {
  const impl = {
    async startContainer(req: { containerId: string }) {
      throw errInternal(`runc create ${req.containerId}: exec /no/such/binary`);
    },
    async containerStatus(req: { containerId: string }) {
      throw errNotFound(`container ${req.containerId}`);
    },
    removeContainer() {
      throw new Error('thrown before any promise');
    },
    async version() {
      return { version: '0.1.0' };
    },
  } as unknown as Methods;

  it('logs an Internal failure as an error with the RPC, the pod and container ids and the cause', async () => {
    const { lines, log } = capture();
    const svc = withCallLogging(RuntimeServiceService, impl, log, (id) =>
      id === 'c1' ? 'p1' : undefined,
    );
    await expect(
      call(svc, 'startContainer', { containerId: 'c1' }) as Promise<unknown>,
    ).rejects.toThrow(/no\/such\/binary/);
    await flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 50,
      rpc: 'StartContainer',
      code: 13,
      containerId: 'c1',
      podSandboxId: 'p1',
      err: { message: expect.stringContaining('/no/such/binary') },
    });
  });

  it('logs a synchronous throw as Unknown, and refusals only at debug', async () => {
    const { lines, log } = capture();
    const svc = withCallLogging(RuntimeServiceService, impl, log);
    expect(() => call(svc, 'removeContainer', { containerId: 'c2' })).toThrow(/before any promise/);
    await expect(
      call(svc, 'containerStatus', { containerId: 'c3' }) as Promise<unknown>,
    ).rejects.toThrow();
    await flush();
    expect(lines.map((l) => [l.rpc, l.level, l.code])).toEqual([
      ['RemoveContainer', 50, 2],
      ['ContainerStatus', 20, 5],
    ]);
  });

  it('passes answers through untouched and leaves out what the service lacks', async () => {
    const { lines, log } = capture();
    const svc = withCallLogging(RuntimeServiceService, impl, log);
    expect(await call(svc, 'version', {})).toEqual({ version: '0.1.0' });
    expect(svc.listContainers).toBeUndefined();
    await flush();
    expect(lines).toEqual([]);
  });

  it('takes the pod and container names from RunPodSandbox and CreateContainer', () => {
    const none = () => undefined;
    expect(
      requestFields(
        'RunPodSandbox',
        { config: { metadata: { name: 'web', namespace: 'default' } } },
        none,
      ),
    ).toEqual({ pod: 'default/web' });
    expect(
      requestFields(
        'CreateContainer',
        {
          podSandboxId: 'p1',
          config: { metadata: { name: 'app' }, image: { image: 'busybox' } },
          sandboxConfig: { metadata: { name: 'web', namespace: 'default' } },
        },
        none,
      ),
    ).toEqual({ podSandboxId: 'p1', pod: 'default/web', container: 'app' });
    expect(requestFields('PullImage', { image: { image: 'busybox' } }, none)).toEqual({
      image: 'busybox',
    });
  });
});
