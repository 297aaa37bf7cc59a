// The daemon's record of failing CRI calls. The kubelet only retries a failed
// call, so a failure of berthd's own (Internal, Unknown, DataLoss) is logged as
// an error with the RPC, the pod and container it concerns and the cause;
// expected refusals (NotFound, InvalidArgument, ...) only at debug level.

import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { StatusCode, toStatus } from '../../core/errors/catalogue.js';
import type { CallContext } from '../server/context.js';

const SERVER_FAULTS: ReadonlySet<number> = new Set([
  StatusCode.UNKNOWN,
  StatusCode.INTERNAL,
  StatusCode.DATA_LOSS,
]);

interface CriRequestLike {
  podSandboxId?: unknown;
  containerId?: unknown;
  image?: { image?: unknown };
  config?: { metadata?: { name?: unknown; namespace?: unknown } };
  sandboxConfig?: { metadata?: { name?: unknown; namespace?: unknown } };
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** The ids and names a CRI request carries, as log fields (absent ones left out). */
export function requestFields(
  rpc: string,
  req: unknown,
  podOf: (containerId: string) => string | undefined,
): Record<string, string> {
  if (typeof req !== 'object' || req === null) return {};
  const r = req as CriRequestLike;
  const containerId = str(r.containerId);
  const fields: Record<string, string | undefined> = {
    podSandboxId: str(r.podSandboxId) ?? (containerId ? podOf(containerId) : undefined),
    containerId,
    image: str(r.image?.image),
  };
  // RunPodSandbox names a pod in `config`; CreateContainer a container, its pod in `sandboxConfig`.
  const pod = rpc === 'RunPodSandbox' ? r.config?.metadata : r.sandboxConfig?.metadata;
  if (pod) fields.pod = `${str(pod.namespace) ?? ''}/${str(pod.name) ?? ''}`;
  if (rpc === 'CreateContainer') fields.container = str(r.config?.metadata?.name);
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
}

/**
 * `impl` with every method of `definition` logging its failures to `log`.
 * `podOf` finds a container's pod for calls that name only the container.
 */
export function withCallLogging<T extends object>(
  definition: ServiceDefinition,
  impl: T,
  log: Logger,
  podOf: (containerId: string) => string | undefined = () => undefined,
): T {
  const methods = impl as Record<string, unknown>;
  const out: Record<string, (req: unknown, ctx: CallContext) => unknown> = {};
  for (const [key, def] of Object.entries(definition)) {
    const fn = methods[key] as ((req: unknown, ctx: CallContext) => unknown) | undefined;
    if (typeof fn !== 'function') continue;
    const rpc = def.path.split('/').pop() ?? key;
    const report = (req: unknown, err: unknown) => {
      const { code } = toStatus(err);
      const fields = { rpc, code, ...requestFields(rpc, req, podOf), err };
      if (SERVER_FAULTS.has(code)) log.error(fields, `CRI ${rpc} failed`);
      else log.debug(fields, `CRI ${rpc} refused`);
    };
    out[key] = (req: unknown, ctx: CallContext) => {
      let res: unknown;
      try {
        res = fn.call(impl, req, ctx);
      } catch (err) {
        report(req, err);
        throw err;
      }
      if (res instanceof Promise) {
        return res.catch((err: unknown) => {
          report(req, err);
          throw err;
        });
      }
      return res; // response streams end with their own status
    };
  }
  return out as T;
}
