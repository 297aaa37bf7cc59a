// The long-running shim: child subreaper, Reaper, ttrpc Task service on the
// socket `start` chose, events to the daemon. Exits on Shutdown or SIGTERM/SIGINT.

import path from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { VERSION } from '../core/version.js';
import { TaskDefinition } from '../api/gen/containerd/task/v2/shim.js';
import { TtrpcServer } from '../core/ttrpc/server.js';
import { Reaper } from '../native/index.js';
import { fromAddress, ttrpcEventsAddress } from '../core/runtime/address.js';
import { EventPublisher } from './events.js';
import type { ShimFlags } from './flags.js';
import { createLogger } from './log.js';
import { TaskService, taskServiceImplementation } from './service.js';
import { shimTracing, tracedService } from './tracing.js';

export async function runServer(flags: ShimFlags): Promise<void> {
  const log = createLogger(flags.debug);
  if (!flags.socket) throw new Error('the server needs -socket (it is started by `start`)');
  if (!flags.namespace) throw new Error('-namespace is required');

  // Before anything is spawned: the Reaper must know every child_process pid.
  const reaper = new Reaper();
  reaper.start();

  const publisher = new EventPublisher({
    address: fromAddress(ttrpcEventsAddress(process.env, flags.address)),
    namespace: flags.namespace,
    log: (m) => log.error(m),
  });

  const tracing = shimTracing(VERSION, (m) => log.error(m));

  const socket = fromAddress(flags.socket);
  const server = new TtrpcServer();
  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    log.debug('shutting down');
    // No graceful close: callers of Shutdown expect the connection to drop, and a
    // pending Wait must fail rather than hang. Unlink first so no one dials a dead shim.
    rmSync(socket, { force: true });
    await Promise.all([publisher.flush(3000), tracing?.shutdown(1000)]);
    publisher.close();
    reaper.stop();
    process.exit(code);
  };

  const service = new TaskService({
    namespace: flags.namespace,
    publisher,
    reaper,
    version: VERSION,
    onShutdown: () => void exit(0),
    log: (m) => log.debug(m),
  });
  reaper.on('exit', (e) => service.onReaped(e));
  const impl = taskServiceImplementation(service);
  server.register(
    TaskDefinition,
    tracing ? tracedService(TaskDefinition, impl, tracing.tracer) : impl,
  );

  mkdirSync(path.dirname(socket), { recursive: true, mode: 0o711 });
  await server.listen(socket, { mode: 0o600 });
  log.debug(`serving containerd.task.v2.Task on ${flags.socket}`);

  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void exit(0));
  // The daemon may close our log FIFO; a failed stderr write must not kill us.
  process.on('SIGPIPE', () => {});
  process.stderr.on('error', () => {});
}
