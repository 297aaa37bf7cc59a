import { ContainersClient } from '../api/gen/containerd/services/containers/v1/containers.js';
import type { Container } from '../api/gen/containerd/services/containers/v1/containers.js';
import { EventsClient, type Envelope } from '../api/gen/containerd/services/events/v1/events.js';
import {
  IntrospectionClient,
  type Plugin,
} from '../api/gen/containerd/services/introspection/v1/introspection.js';
import {
  NamespacesClient,
  type Namespace,
} from '../api/gen/containerd/services/namespaces/v1/namespace.js';
import {
  VersionClient,
  type VersionResponse,
} from '../api/gen/containerd/services/version/v1/version.js';
import type { Any } from '../api/gen/google/protobuf/any.js';
import { isBerthError } from '../core/errors/catalogue.js';
import { ContainerHandle, type NewContainerOptions, specAny } from './container.js';
import { ContentApi } from './content.js';
import { imagesApi } from './images.js';
import { leasesApi } from './leases.js';
import { SnapshotsApi } from './snapshots.js';
import { tasksApi } from './tasks.js';
import {
  type CallOptions,
  Connection,
  type ConnectionOptions,
  DEFAULT_ADDRESS,
  DEFAULT_NAMESPACE,
  serverStream,
  unary,
} from './connection.js';

export type { Container, Envelope, Namespace, Plugin, VersionResponse };

/** A container message with the fields the caller left out set to their empty values. */
function withContainerDefaults(c: Partial<Container> & Pick<Container, 'id'>): Partial<Container> {
  return { labels: {}, image: '', snapshotter: '', snapshotKey: '', extensions: {}, ...c };
}

/**
 * The Node client for berthd (and any containerd-compatible daemon).
 * Every method is promise-based; event streams are async iterables.
 *
 *   const client = new Client({ address: '/run/berth/berth.sock', namespace: 'demo' });
 *   console.log(await client.version());
 */
export class Client {
  readonly namespace: string;
  readonly address: string;
  private readonly conn: Connection;
  private readonly timeoutMs?: number;
  private readonly owned: boolean;

  constructor(opts: ConnectionOptions = {}, shared?: Connection) {
    this.address = (opts.address ?? process.env.BERTH_ADDRESS ?? DEFAULT_ADDRESS).replace(
      /^unix:\/\//,
      '',
    );
    this.namespace = opts.namespace ?? process.env.BERTH_NAMESPACE ?? DEFAULT_NAMESPACE;
    this.timeoutMs = opts.timeoutMs;
    this.conn = shared ?? new Connection(this.address);
    this.owned = !shared;
  }

  /** @internal the connection, for clients that share it (withNamespace, leases). */
  sharedConnection(): Connection {
    return this.conn;
  }

  /** A client for another namespace sharing this one's connection. */
  withNamespace(namespace: string): Client {
    return new Client({ address: this.address, namespace, timeoutMs: this.timeoutMs }, this.conn);
  }

  /** Closes the connection (only the client that opened it does). */
  close(): void {
    if (this.owned) this.conn.close();
  }

  /** @internal call options for this client's namespace. */
  opts(extra: Partial<CallOptions> = {}): CallOptions {
    return { namespace: this.namespace, timeoutMs: this.timeoutMs, ...extra };
  }

  /** @internal */
  call<Res>(
    ctor: new (...a: any[]) => any,
    method: string,
    req: unknown,
    extra?: Partial<CallOptions>,
  ): Promise<Res> {
    return unary<unknown, Res>(this.conn, this.conn.client(ctor), method, req, this.opts(extra));
  }

  /** @internal */
  stream<Res>(
    ctor: new (...a: any[]) => any,
    method: string,
    req: unknown,
    extra?: Partial<CallOptions>,
  ) {
    return serverStream<unknown, Res>(
      this.conn,
      this.conn.client(ctor),
      method,
      req,
      this.opts(extra),
    );
  }

  version(): Promise<VersionResponse> {
    return this.call(VersionClient, 'version', {});
  }

  readonly introspection = {
    plugins: async (filters: string[] = []): Promise<Plugin[]> =>
      (await this.call<{ plugins: Plugin[] }>(IntrospectionClient, 'plugins', { filters })).plugins,
    server: async (): Promise<{ uuid: string }> => this.call(IntrospectionClient, 'server', {}),
  };

  readonly namespaces = {
    list: async (filter = ''): Promise<Namespace[]> =>
      (await this.call<{ namespaces: Namespace[] }>(NamespacesClient, 'list', { filter }))
        .namespaces,
    get: async (name: string): Promise<Namespace> =>
      (await this.call<{ namespace: Namespace }>(NamespacesClient, 'get', { name })).namespace,
    create: async (name: string, labels: Record<string, string> = {}): Promise<Namespace> =>
      (
        await this.call<{ namespace: Namespace }>(NamespacesClient, 'create', {
          namespace: { name, labels },
        })
      ).namespace,
    /** Sets (or, with an empty value, removes) labels; other labels are kept. */
    setLabels: async (name: string, labels: Record<string, string>): Promise<Namespace> =>
      (
        await this.call<{ namespace: Namespace }>(NamespacesClient, 'update', {
          namespace: { name, labels },
          updateMask: Object.keys(labels).map((k) => `labels.${k}`),
        })
      ).namespace,
    delete: async (name: string): Promise<void> => {
      await this.call(NamespacesClient, 'delete', { name });
    },
  };

  readonly containers = {
    /**
     * Containers matching any of the filters, one message each: a namespace's
     * records together can pass the message size limit that a unary List hits.
     */
    list: async (...filters: string[]): Promise<Container[]> => {
      const out: Container[] = [];
      try {
        const stream = this.stream<{ container?: Container }>(
          ContainersClient,
          'listStream',
          { filters },
          { timeoutMs: undefined },
        );
        for await (const m of stream) if (m.container) out.push(m.container);
      } catch (err) {
        // A daemon without ListStream still answers the unary List.
        if (out.length > 0 || !isBerthError(err, 'NotImplemented')) throw err;
        return (await this.call<{ containers: Container[] }>(ContainersClient, 'list', { filters }))
          .containers;
      }
      return out;
    },
    get: async (id: string): Promise<Container> =>
      (await this.call<{ container: Container }>(ContainersClient, 'get', { id })).container,
    create: async (container: Partial<Container> & Pick<Container, 'id'>): Promise<Container> =>
      (
        await this.call<{ container: Container }>(ContainersClient, 'create', {
          container: withContainerDefaults(container),
        })
      ).container,
    update: async (
      container: Partial<Container> & Pick<Container, 'id'>,
      fieldpaths: string[],
    ): Promise<Container> =>
      (
        await this.call<{ container: Container }>(ContainersClient, 'update', {
          container: withContainerDefaults(container),
          updateMask: fieldpaths,
        })
      ).container,
    setLabels: async (id: string, labels: Record<string, string>): Promise<Container> =>
      this.containers.update(
        { id, labels },
        Object.keys(labels).map((k) => `labels.${k}`),
      ),
    delete: async (id: string): Promise<void> => {
      await this.call(ContainersClient, 'delete', { id });
    },
  };

  readonly events = {
    publish: async (topic: string, event: Any): Promise<void> => {
      await this.call(EventsClient, 'publish', { topic, event });
    },
    /** Every event matching any of the filters, until `signal` aborts or the stream ends. */
    subscribe: (filters: string[] = [], signal?: AbortSignal): AsyncGenerator<Envelope> =>
      this.stream<Envelope>(
        EventsClient,
        'subscribe',
        { filters },
        { signal, timeoutMs: undefined },
      ),
  };

  /** Images (name → target descriptor). */
  readonly images = imagesApi(this);

  /** Leases protecting in-flight content and snapshots from the collector. */
  readonly leases = leasesApi(this);

  private contentApi?: ContentApi;

  /** The content store (blobs by digest). */
  get content(): ContentApi {
    return (this.contentApi ??= new ContentApi(this.conn, (extra) => this.opts(extra)));
  }

  /** One snapshotter's snapshots (default overlayfs). */
  snapshots(snapshotter?: string): SnapshotsApi {
    return new SnapshotsApi(this, snapshotter);
  }

  /** The Tasks service, one method per RPC. */
  readonly tasks = tasksApi(this);

  /** Creates the container record and returns a handle to run tasks in it. */
  async newContainer(o: NewContainerOptions): Promise<ContainerHandle> {
    const record = await this.containers.create({
      id: o.id,
      labels: o.labels ?? {},
      image: o.image ?? '',
      runtime: { name: o.runtime ?? 'io.containerd.berth.v2', options: o.runtimeOptions },
      spec: specAny(o.spec),
      snapshotter: o.snapshotter ?? '',
      snapshotKey: o.snapshotKey ?? '',
    });
    return new ContainerHandle(this.tasks, record, (id) => this.containers.delete(id));
  }

  /** A handle on an existing container. */
  async loadContainer(id: string): Promise<ContainerHandle> {
    return new ContainerHandle(this.tasks, await this.containers.get(id), (i) =>
      this.containers.delete(i),
    );
  }
}
