// Wires CRI streaming into the plugin: the streaming server on the configured
// address, the attach hubs fed from the runtime's container stdio, and the
// namespace dialer for port-forward. Must run before CriRuntime.recover() so
// recovered containers get their hubs.

import { errInvalidArgument } from '../../core/errors/catalogue.js';
import { StreamingServer } from '../streaming/index.js';
import { ContainerAttachHubs, type ContainerStdio } from './attach-hubs.js';
import type { CriConfig } from './config.js';
import { NetnsDialer } from './netns-dialer.js';
import type { ContainerEventKind, CriRuntime } from './runtime.js';
import { CriStreamingRuntime } from './streaming-runtime.js';
import { CriStreamingService } from './streaming-service.js';

export interface CriStreaming {
  service: CriStreamingService;
  server: StreamingServer;
  runtime: CriStreamingRuntime;
  close(): Promise<void>;
}

export function streamServerPort(cfg: CriConfig): number {
  const raw = String(cfg.stream_server_port ?? '0').trim();
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    throw errInvalidArgument(`stream_server_port ${JSON.stringify(raw)} is not a port number`);
  }
  return port;
}

export async function startCriStreaming(rt: CriRuntime, cfg: CriConfig): Promise<CriStreaming> {
  const hubs = new ContainerAttachHubs(rt.d.tasks);
  const dialer = new NetnsDialer();
  const onStdio = (s: ContainerStdio) => hubs.register(s);
  const onEvent = (e: { kind: ContainerEventKind; id: string }) => {
    if (e.kind === 'stopped' || e.kind === 'deleted') hubs.end(e.id);
  };
  rt.events.on('stdio', onStdio);
  rt.events.on('event', onEvent);
  const runtime = new CriStreamingRuntime(rt, hubs, dialer);
  const server = new StreamingServer(runtime, {
    address: cfg.stream_server_address || '127.0.0.1',
    port: streamServerPort(cfg),
  });
  try {
    await server.start();
  } catch (err) {
    rt.events.off('stdio', onStdio);
    rt.events.off('event', onEvent);
    throw err;
  }
  return {
    service: new CriStreamingService(rt, server),
    server,
    runtime,
    async close() {
      rt.events.off('stdio', onStdio);
      rt.events.off('event', onEvent);
      await server.close();
      hubs.close();
    },
  };
}
