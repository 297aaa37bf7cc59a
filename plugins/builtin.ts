import { containersGrpcPlugin, containersServicePlugin } from './containers/plugin.js';
import type { Registration } from './core/types.js';
import {
  eventsGrpcPlugin,
  eventsServicePlugin,
  eventsTtrpcPlugin,
  exchangePlugin,
} from './events/plugin.js';
import { introspectionGrpcPlugin, introspectionServicePlugin } from './introspection/plugin.js';
import { metadataPlugin } from './metadata/plugin.js';
import { namespacesGrpcPlugin, namespacesServicePlugin } from './namespaces/plugin.js';
import { taskRuntimePlugin, tasksGrpcPlugin, tasksServicePlugin } from './tasks/plugin.js';
import { versionGrpcPlugin, versionServicePlugin } from './version/plugin.js';

/** Every plugin berthd registers, in registration order (the registry sorts by requires). */
export function builtinPlugins(): Registration[] {
  return [
    metadataPlugin,
    exchangePlugin as Registration,
    versionServicePlugin,
    introspectionServicePlugin,
    eventsServicePlugin as Registration,
    namespacesServicePlugin,
    containersServicePlugin,
    taskRuntimePlugin as Registration,
    tasksServicePlugin,
    versionGrpcPlugin,
    introspectionGrpcPlugin,
    eventsGrpcPlugin,
    namespacesGrpcPlugin,
    containersGrpcPlugin,
    tasksGrpcPlugin,
    eventsTtrpcPlugin,
  ];
}
