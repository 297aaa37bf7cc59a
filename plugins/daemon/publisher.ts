import type { Any } from '../../api/gen/google/protobuf/any.js';

/** What services need from the events exchange: fire-and-forget publishing. */
export interface Publisher {
  publish(namespace: string, topic: string, event: Any): void;
}
