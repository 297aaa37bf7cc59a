// The daemon's ttrpc events endpoint (Events/Forward) for shims started
// without a daemon: it accepts and counts what they publish, so a shim finds
// the endpoint a real daemon would give it.

import { EventsDefinition } from '../../api/gen/containerd/services/ttrpc/events/v1/events.js';
import { TtrpcServer } from '../../core/ttrpc/server.js';

export class EventSink {
  /** Topics received, in order. */
  readonly topics: string[] = [];
  private readonly server = new TtrpcServer();

  private constructor(readonly socket: string) {
    this.server.register(EventsDefinition, {
      forward: (req) => {
        this.topics.push(req.envelope?.topic ?? '');
        return {};
      },
    });
  }

  static async listen(socket: string): Promise<EventSink> {
    const sink = new EventSink(socket);
    await sink.server.listen(socket);
    return sink;
  }

  close(): Promise<void> {
    return this.server.close({ timeoutMs: 100 });
  }
}
