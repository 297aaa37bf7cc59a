// The CRI plugin, `io.berth.grpc.v1.cri`: runtime.v1 RuntimeService and
// ImageService on berthd's main gRPC socket, built on the local services
// (task manager, metadata, content, images, snapshots) without a socket hop.

import path from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { ImageServiceService, RuntimeServiceService } from '../../api/gen/cri/runtime/v1/api.js';
import type { ContentMetadataStore } from '../content/index.js';
import { PluginType, type Registration } from '../daemon/types.js';
import type { DiffLocal } from '../diff/service.js';
import type { ImagesLocal } from '../images/index.js';
import type { LeaseStore } from '../../core/metadata/leases.js';
import type { MetadataDB } from '../../core/metadata/db.js';
import { type LocalService, adaptService } from '../server/grpc-adapter.js';
import { getSnapshotService } from '../snapshots/plugin.js';
import type { TaskManager } from '../tasks/manager.js';
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

export const criPlugin: Registration<CriConfig> = {
  type: PluginType.GRPC,
  id: 'cri',
  requires: [
    PluginType.Runtime,
    PluginType.Metadata,
    PluginType.Content,
    PluginType.Service,
    PluginType.Snapshotter,
    PluginType.Lease,
  ],
  config: defaultCriConfig,
  async init(ctx) {
    const config: CriConfig = {
      ...defaultCriConfig,
      ...ctx.config,
      cni: { ...defaultCriConfig.cni, ...ctx.config.cni },
      runtime_handlers: { ...defaultCriConfig.runtime_handlers, ...ctx.config.runtime_handlers },
    };
    const snapshots = getSnapshotService(ctx);
    const snapshotter = snapshots.snapshotter('overlayfs');
    const content = ctx.get<ContentMetadataStore>(PluginType.Content, 'content');
    const images = new CriImageStore({
      images: ctx.get<ImagesLocal>(PluginType.Service, 'images-service'),
      content,
      snapshotter,
      snapshotterName: 'overlayfs',
      leases: ctx.get<LeaseStore>(PluginType.Lease, 'manager'),
      diff: ctx.get<DiffLocal>(PluginType.Service, 'diff-service'),
    });
    const runtime = new CriRuntime({
      config,
      store: new CriStore(ctx.root),
      manager: ctx.get<TaskManager>(PluginType.Runtime, 'task'),
      containers: ctx.get<MetadataDB>(PluginType.Metadata).containers,
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
      manager: runtime.d.manager,
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
    return {
      registerGrpc(server: Server) {
        server.addService(
          RuntimeServiceService,
          adaptService(
            'runtime.v1.RuntimeService',
            RuntimeServiceService,
            withCallLogging(
              RuntimeServiceService,
              withStreamingCalls(runtimeService, streaming.service) as unknown as LocalService,
              ctx.log,
              (id) => runtime.d.store.containers.find(id)?.sandboxId,
            ),
          ),
        );
        server.addService(
          ImageServiceService,
          adaptService(
            'runtime.v1.ImageService',
            ImageServiceService,
            withCallLogging(ImageServiceService, imageService as unknown as LocalService, ctx.log),
          ),
        );
      },
    };
  },
};
