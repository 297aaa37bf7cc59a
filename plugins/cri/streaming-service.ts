// The CRI streaming calls (Exec, Attach, PortForward): each checks its target and
// answers a single-use URL on the streaming server, where the client then
// upgrades to SPDY or WebSocket and the session runs through CriStreamingRuntime.

import { errFailedPrecondition, errInvalidArgument } from '../../core/errors/catalogue.js';
import type {
  AttachRequest,
  AttachResponse,
  ExecRequest,
  ExecResponse,
  PortForwardRequest,
  PortForwardResponse,
} from '../../api/gen/cri/runtime/v1/api.js';
import type { RuntimeServiceService } from '../../api/gen/cri/runtime/v1/api.js';
import type { LocalServiceOf } from '../server/types.js';
import type { StreamingServer } from '../streaming/index.js';
import type { CriRuntime } from './runtime.js';

/** The RuntimeService calls served by CriStreamingService rather than CriRuntimeService. */
export type CriStreamingCall = 'exec' | 'attach' | 'portForward';

export class CriStreamingService implements Pick<
  LocalServiceOf<RuntimeServiceService>,
  CriStreamingCall
> {
  constructor(
    private readonly rt: CriRuntime,
    private readonly server: StreamingServer,
  ) {}

  private runningContainer(id: string) {
    if (!id) throw errInvalidArgument('container_id is required');
    const rec = this.rt.d.store.containers.resolve(id);
    if (rec.state !== 'running') {
      throw errFailedPrecondition(`container ${rec.id} is in ${rec.state} state, not running`);
    }
    return rec;
  }

  async exec(req: ExecRequest): Promise<ExecResponse> {
    const rec = this.runningContainer(req.containerId);
    return this.server.getExec({
      containerId: rec.id,
      cmd: req.cmd,
      tty: req.tty,
      stdin: req.stdin,
      stdout: req.stdout,
      stderr: req.stderr,
    });
  }

  async attach(req: AttachRequest): Promise<AttachResponse> {
    const rec = this.runningContainer(req.containerId);
    return this.server.getAttach({
      containerId: rec.id,
      tty: req.tty,
      stdin: req.stdin,
      stdout: req.stdout,
      stderr: req.stderr,
    });
  }

  async portForward(req: PortForwardRequest): Promise<PortForwardResponse> {
    if (!req.podSandboxId) throw errInvalidArgument('pod_sandbox_id is required');
    const sb = this.rt.d.store.sandboxes.resolve(req.podSandboxId);
    if (sb.state !== 'ready') throw errFailedPrecondition(`pod sandbox ${sb.id} is not ready`);
    return this.server.getPortForward({ podSandboxId: sb.id, ports: req.port });
  }
}

/**
 * One service object for the gRPC adapter: the streaming calls from `streaming`,
 * everything else from `base`, each bound to its own object.
 */
export function withStreamingCalls<T extends object>(
  base: T,
  streaming: CriStreamingService,
): T & Pick<CriStreamingService, CriStreamingCall> {
  const own: Record<string, unknown> = {
    exec: streaming.exec.bind(streaming),
    attach: streaming.attach.bind(streaming),
    portForward: streaming.portForward.bind(streaming),
  };
  return new Proxy(base as T & Pick<CriStreamingService, CriStreamingCall>, {
    get(target, key, receiver) {
      if (typeof key === 'string' && key in own) return own[key];
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === 'function' ? (v as Function).bind(target) : v;
    },
  });
}
