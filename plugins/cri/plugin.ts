// The CRI plugin, `io.berth.grpc.v1.cri`: runtime.v1 RuntimeService and
// ImageService on berthd's main gRPC socket, built on the local services
// (task manager, metadata, content, images, snapshots) without a socket hop.

import path from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { ImageServiceService, RuntimeServiceService } from '../../api/gen/cri/runtime/v1/api.js';
import { ContentStoreRef } from '../content/plugin.js';
import { PluginType, type Registration } from '../daemon/types.js';
import { DiffServiceRef } from '../diff/plugin.js';
import { ExchangeRef } from '../events/plugin.js';
import { ImagesServiceRef } from '../images/plugin.js';
import { LeaseManagerRef } from '../leases/plugin.js';
import { MetadataRef } from '../metadata/plugin.js';
import { adaptService } from '../server/grpc-adapter.js';
import { SnapshotServiceRef } from '../snapshots/plugin.js';
import { TaskManagerRef } from '../tasks/plugin.js';
import { withCallLogging } from './call-logging.js';
import { CniRuntime } from './cni.js';
import { type CriConfig, defaultCriConfig } from './config.js';
import { CriImageService } from './image-service.js';
import { CriImageStore } from './image-store.js';
import { CriRuntime } from './runtime.js';
import { CriRuntimeService } from './runtime-service.js';
import { CriStats } from './stats.js';
import { CriStore } from './store.js';
import { startCriStreaming } from './streaming-setup.js';
import { withStreamingCalls } from './streaming-service.js';
import { IMAGE_SERVICE_UNIMPLEMENTED, RUNTIME_SERVICE_UNIMPLEMENTED } from './unimplemented.js';

export const criPlugin: Registration<CriConfig> = {
  type: PluginType.GRPC,
  id: 'cri',
  requires: [
    PluginType.Runtime,
    PluginType.Metadata,
    PluginType.Content,
    PluginType.Service,
    PluginType.Internal,
    PluginType.Lease,
    PluginType.Event,
  ],
  config: defaultCriConfig,
  async init(ctx) {
    const config: CriConfig = {
      ...defaultCriConfig,
      ...ctx.config,
      cni: { ...defaultCriConfig.cni, ...ctx.config.cni },
      runtime_handlers: { ...defaultCriConfig.runtime_handlers, ...ctx.config.runtime_handlers },
    };
    const snapshots = ctx.get(SnapshotServiceRef);
    const snapshotter = snapshots.snapshotter('overlayfs');
    const content = ctx.get(ContentStoreRef);
    const images = new CriImageStore({
      images: ctx.get(ImagesServiceRef),
      content,
      snapshotter,
      snapshotterName: 'overlayfs',
      leases: ctx.get(LeaseManagerRef),
      diff: ctx.get(DiffServiceRef),
      sandboxImage: config.sandbox_image,
      log: ctx.log,
    });
    // Before the runtime recovers or serves: every image lookup goes through the index.
    const imageIndex = await images.watch(ctx.get(ExchangeRef));
    ctx.onClose(() => imageIndex.close());
    const runtime = new CriRuntime({
      config,
      store: new CriStore(ctx.root),
      tasks: ctx.get(TaskManagerRef),
      containers: ctx.get(MetadataRef).containers,
      snapshotter,
      images,
      cni: new CniRuntime(config.cni.bin_dirs, config.cni.conf_dir),
      stateDir: ctx.state,
      log: ctx.log,
    });
    const streaming = await startCriStreaming(runtime, config);
    ctx.onClose(() => streaming.close());
    await runtime.recover();
    const stats = new CriStats({
      store: runtime.d.store,
      manager: ctx.get(TaskManagerRef),
      snapshotter,
      snapshotRoot: path.join(ctx.daemon.root, 'io.berth.snapshotter.v1.overlayfs'),
    });
    const runtimeService = new CriRuntimeService(runtime, stats);
    const imageService = new CriImageService(
      images,
      {
        mountpoint: ctx.daemon.root,
        dirs: [content.store.root, path.join(ctx.daemon.root, 'io.berth.snapshotter.v1.overlayfs')],
      },
      config.registry_config_path,
    );
    ctx.meta.exports.cniConfDir = config.cni.conf_dir;
    const runtimeImpl = adaptService(
      RuntimeServiceService,
      withCallLogging(
        RuntimeServiceService,
        withStreamingCalls(runtimeService, streaming.service),
        ctx.log,
        (id) => runtime.d.store.containers.find(id)?.sandboxId,
      ),
      RUNTIME_SERVICE_UNIMPLEMENTED,
    );
    const imageImpl = adaptService(
      ImageServiceService,
      withCallLogging(ImageServiceService, imageService, ctx.log),
      IMAGE_SERVICE_UNIMPLEMENTED,
    );
    return {
      registerGrpc(server: Server) {
        server.addService(RuntimeServiceService, runtimeImpl);
        server.addService(ImageServiceService, imageImpl);
      },
    };
  },
};
