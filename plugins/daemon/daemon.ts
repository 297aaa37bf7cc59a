import path from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { REVISION, VERSION } from '../../core/version.js';
import { TtrpcServer } from '../../core/ttrpc/index.js';
import { type Metrics, startMetrics } from '../metrics/index.js';
import { taskSourceOf } from '../metrics/task-source.js';
import { GrpcFrontDoor } from '../server/grpc-front-door.js';
import { type Tracing, type TracingSettings, startTracing } from '../tracing/index.js';
import { prepareSocketPath, secureSocket } from '../server/listen.js';
import { isGrpcService, isTtrpcService } from '../server/types.js';
import { type DaemonConfig, ttrpcAddressOf } from './config.js';
import { acquireLock } from './lockfile.js';
import { ensurePrivateDir } from './private-dir.js';
import { initPlugins, type PluginSet } from './registry.js';
import type { Registration } from './types.js';

export interface DaemonOptions {
  config: DaemonConfig;
  registrations: Registration[];
  log: Logger;
}

// containerd's limits, so large spec and content messages pass the same way.
const MAX_MESSAGE = 16 << 20;
// Streams one connection may have open at once: far above what kubelet or
// ctr use, low enough that a flood of streams cannot balloon the daemon.
const MAX_CONCURRENT_STREAMS = 1000;

/** The optional operator endpoints, each on only when configured. */
interface Observers {
  metrics?: Metrics;
  tracing?: Tracing;
}

function tracingSettings(config: DaemonConfig): TracingSettings {
  const t = config.tracing;
  return { endpoint: t.endpoint, samplingRatio: t.sampling_ratio, serviceName: t.service_name };
}

/** berthd: the plugin set plus the gRPC and ttrpc listeners in front of it. */
export class Daemon {
  private constructor(
    readonly config: DaemonConfig,
    readonly plugins: PluginSet,
    private readonly grpc: Server,
    private readonly frontDoor: GrpcFrontDoor,
    private readonly ttrpc: TtrpcServer,
    private readonly releaseLock: () => Promise<void>,
    private readonly log: Logger,
    private readonly observers: Observers,
  ) {}

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const started = performance.now();
    const { config, log } = opts;
    for (const dir of [config.root, config.state]) {
      const had = await ensurePrivateDir(dir, 0o711);
      if (had !== undefined) {
        log.warn({ dir, mode: had.toString(8) }, 'directory was too open; tightened to 711');
      }
    }
    const lock = await acquireLock(path.join(config.root, 'berthd.lock'));
    const address = config.grpc.address;
    const ttrpcAddress = ttrpcAddressOf(config);
    const pairPath = path.join(config.state, 'grpc-pairs.sock');
    let plugins: PluginSet | undefined;
    let frontDoor: GrpcFrontDoor | undefined;
    const observers: Observers = {};
    try {
      // Before plugins: shims (spares too) start with the collector in their environment.
      if (config.tracing.endpoint) observers.tracing = startTracing(tracingSettings(config), log);
      await prepareSocketPath(address);
      await prepareSocketPath(ttrpcAddress);
      await prepareSocketPath(pairPath);
      plugins = await initPlugins(opts.registrations, {
        daemon: {
          root: config.root,
          state: config.state,
          address,
          ttrpcAddress,
          version: VERSION,
          revision: REVISION,
        },
        pluginConfig: config.plugins,
        requiredPlugins: config.required_plugins,
        disabledPlugins: config.disabled_plugins,
        log,
      });

      if (config.metrics.address) {
        observers.metrics = await startMetrics(config.metrics.address, {
          tasks: taskSourceOf(plugins),
          log,
        });
        log.info({ address: observers.metrics.address }, 'metrics endpoint listening');
      }

      const grpc = new Server({
        'grpc.max_receive_message_length': MAX_MESSAGE,
        'grpc.max_send_message_length': MAX_MESSAGE,
        'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
        // No channelz service is registered; its per-call bookkeeping would be for nobody.
        'grpc.enable_channelz': 0,
      });
      const ttrpc = new TtrpcServer();
      for (const inst of plugins.instances()) {
        if (isGrpcService(inst)) inst.registerGrpc(grpc);
        if (isTtrpcService(inst)) inst.registerTtrpc(ttrpc);
      }
      // berthd owns the socket and hands each connection to grpc-js (docs/grpc.md).
      const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
      frontDoor = new GrpcFrontDoor({
        log,
        inject: (conn) => injector.injectConnection(conn),
        pairPath,
      });
      await frontDoor.listen(address);
      await secureSocket(address, 0o660, config.grpc.uid, config.grpc.gid);
      await ttrpc.listen(ttrpcAddress);
      await secureSocket(ttrpcAddress, 0o600, 0, 0);

      const daemon = new Daemon(
        config,
        plugins,
        grpc,
        frontDoor,
        ttrpc,
        lock.release,
        log,
        observers,
      );
      log.info(
        {
          address,
          ttrpcAddress,
          version: VERSION,
          startupMs: Math.round(performance.now() - started),
          plugins: plugins.records.filter((r) => r.state === 'ok').length,
        },
        'berthd started',
      );
      return daemon;
    } catch (err) {
      frontDoor?.close();
      await observers.metrics?.close();
      await plugins?.close(log);
      await observers.tracing?.close();
      await lock.release();
      throw err;
    }
  }

  /** Graceful stop: listeners first, then plugins in reverse order, then the lock. */
  async stop(): Promise<void> {
    this.log.info('berthd stopping');
    this.frontDoor.stopAccepting();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpc.forceShutdown();
        resolve();
      }, 2000);
      force.unref();
      this.grpc.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.frontDoor.close();
    await this.observers.metrics?.close();
    await this.ttrpc.close();
    await this.plugins.close(this.log);
    await this.observers.tracing?.close();
    await this.releaseLock();
    this.log.info('berthd stopped');
  }
}
