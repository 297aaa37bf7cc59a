import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';

/** Ends each stream and waits until its data was handed to the socket (or it died). */
export async function endAndFlush(streams: (Writable | undefined)[]): Promise<void> {
  await Promise.all(
    streams.map((s) => {
      if (!s || s.destroyed) return undefined;
      if (!s.writableEnded) s.end();
      return finished(s, { readable: false }).catch(() => undefined);
    }),
  );
}
