import { containersGrpcPlugin, containersServicePlugin } from './containers/plugin.js';
import { contentGrpcPlugin, contentServicePlugin, contentStorePlugin } from './content/plugin.js';
import type { Registration } from './daemon/types.js';
import { criPlugin } from './cri/plugin.js';
import { diffGrpcPlugin, diffServicePlugin } from './diff/plugin.js';
import {
  eventsGrpcPlugin,
  eventsServicePlugin,
  eventsTtrpcPlugin,
  exchangePlugin,
} from './events/plugin.js';
import { gcPlugins } from './gc/plugin.js';
import { imagesGrpcPlugin, imagesServicePlugin } from './images/plugin.js';
import { introspectionGrpcPlugin, introspectionServicePlugin } from './introspection/plugin.js';
import { leaseManagerPlugin, leasesGrpcPlugin, leasesServicePlugin } from './leases/plugin.js';
import { metadataPlugin } from './metadata/plugin.js';
import { namespacesGrpcPlugin, namespacesServicePlugin } from './namespaces/plugin.js';
import { snapshotPlugins } from './snapshots/plugin.js';
import { taskRuntimePlugin, tasksGrpcPlugin, tasksServicePlugin } from './tasks/plugin.js';
import { versionGrpcPlugin, versionServicePlugin } from './version/plugin.js';

/** Every plugin berthd registers, in registration order (the registry sorts by requires). */
export function builtinPlugins(): Registration[] {
  return [
    metadataPlugin,
    contentStorePlugin as Registration,
    contentServicePlugin,
    ...snapshotPlugins,
    exchangePlugin as Registration,
    versionServicePlugin,
    introspectionServicePlugin,
    eventsServicePlugin as Registration,
    namespacesServicePlugin,
    containersServicePlugin,
    leaseManagerPlugin as Registration,
    leasesServicePlugin,
    imagesServicePlugin,
    diffServicePlugin,
    taskRuntimePlugin as Registration,
    tasksServicePlugin,
    versionGrpcPlugin,
    introspectionGrpcPlugin,
    eventsGrpcPlugin,
    namespacesGrpcPlugin,
    containersGrpcPlugin,
    contentGrpcPlugin,
    leasesGrpcPlugin,
    imagesGrpcPlugin,
    diffGrpcPlugin,
    tasksGrpcPlugin,
    criPlugin as Registration,
    eventsTtrpcPlugin,
    ...gcPlugins,
  ];
}
