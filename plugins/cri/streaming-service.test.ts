import { describe, expect, it } from 'vitest';
import { errNotFound, isBerthError } from '../../core/errors/catalogue.js';
import { defaultCriConfig } from './config.js';
import type { CriRuntime } from './runtime.js';
import { streamServerPort } from './streaming-setup.js';
import { CriStreamingService, withStreamingCalls } from './streaming-service.js';
import type { StreamingServer } from '../streaming/index.js';

const FULL = 'a'.repeat(64);

function fakeRuntime(records: Record<string, { state: string; kind: 'c' | 's' }>): CriRuntime {
  const resolver = (kind: 'c' | 's') => ({
    resolve(id: string) {
      const hit = Object.entries(records).find(([k, v]) => v.kind === kind && k.startsWith(id));
      if (!hit) throw errNotFound(`"${id}"`);
      return { id: hit[0], state: hit[1].state };
    },
  });
  return {
    d: { store: { containers: resolver('c'), sandboxes: resolver('s') } },
  } as unknown as CriRuntime;
}

function fakeServer(calls: unknown[]): StreamingServer {
  const record = (kind: string) => (req: unknown) => {
    calls.push({ kind, req });
    return { url: `http://x/${kind}/t` };
  };
  return {
    getExec: record('exec'),
    getAttach: record('attach'),
    getPortForward: record('portforward'),
  } as unknown as StreamingServer;
}

describe('CriStreamingService', () => {
  it('hands the full id of a running container to the server', async () => {
    const calls: unknown[] = [];
    const svc = new CriStreamingService(
      fakeRuntime({ [FULL]: { state: 'running', kind: 'c' } }),
      fakeServer(calls),
    );
    const r = await svc.exec({
      containerId: 'aaaa',
      cmd: ['ls'],
      tty: false,
      stdin: false,
      stdout: true,
      stderr: true,
      auditRequestId: '',
    });
    expect(r.url).toBe('http://x/exec/t');
    expect(calls).toEqual([
      {
        kind: 'exec',
        req: {
          containerId: FULL,
          cmd: ['ls'],
          tty: false,
          stdin: false,
          stdout: true,
          stderr: true,
        },
      },
    ]);
  });

  it('answers NotFound, FailedPrecondition and InvalidArgument before issuing a URL', async () => {
    const calls: unknown[] = [];
    const svc = new CriStreamingService(
      fakeRuntime({
        [FULL]: { state: 'exited', kind: 'c' },
        ['b'.repeat(64)]: { state: 'notready', kind: 's' },
      }),
      fakeServer(calls),
    );
    const base = { tty: false, stdin: false, stdout: true, stderr: false, auditRequestId: '' };
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (isBerthError(e) ? e.code : String(e)),
      );
    expect(await code(svc.exec({ ...base, containerId: 'zz', cmd: ['x'] }))).toBe('NotFound');
    expect(await code(svc.exec({ ...base, containerId: FULL, cmd: ['x'] }))).toBe(
      'FailedPrecondition',
    );
    expect(await code(svc.attach({ ...base, containerId: '' }))).toBe('InvalidArgument');
    expect(await code(svc.portForward({ podSandboxId: 'bb', port: [80] }))).toBe(
      'FailedPrecondition',
    );
    expect(await code(svc.portForward({ podSandboxId: 'cc', port: [80] }))).toBe('NotFound');
    expect(calls).toEqual([]);
  });
});

describe('withStreamingCalls', () => {
  it('takes the streaming calls from the streaming service and the rest from the base', async () => {
    class Base {
      private readonly who = 'base';
      async version() {
        return this.who;
      }
      async exec() {
        return 'base exec';
      }
    }
    const calls: unknown[] = [];
    const streaming = new CriStreamingService(
      fakeRuntime({ [FULL]: { state: 'running', kind: 'c' } }),
      fakeServer(calls),
    );
    const merged = withStreamingCalls(new Base(), streaming) as unknown as Record<
      string,
      (req?: unknown) => Promise<unknown>
    >;
    // The gRPC adapter looks methods up and binds them to the merged object.
    expect(await merged.version!.bind(merged)()).toBe('base');
    const r = await merged.exec!.bind(merged)({
      containerId: FULL,
      cmd: ['true'],
      tty: false,
      stdin: false,
      stdout: true,
      stderr: false,
    });
    expect(r).toEqual({ url: 'http://x/exec/t' });
    expect(typeof merged.portForward).toBe('function');
  });
});

describe('streamServerPort', () => {
  it('parses the configured port string', () => {
    expect(streamServerPort(defaultCriConfig)).toBe(0);
    expect(streamServerPort({ ...defaultCriConfig, stream_server_port: '10010' })).toBe(10010);
    expect(() => streamServerPort({ ...defaultCriConfig, stream_server_port: 'x' })).toThrow(
      /not a port/,
    );
    expect(() => streamServerPort({ ...defaultCriConfig, stream_server_port: '70000' })).toThrow(
      /not a port/,
    );
  });
});
