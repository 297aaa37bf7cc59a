// Progress of pulls and pushes, one event per change of an object's state and
// throttled byte counts while it moves.

export type TransferStatus =
  | 'resolving'
  | 'resolved'
  | 'waiting'
  | 'downloading'
  | 'uploading'
  | 'exists'
  | 'done'
  | 'unpacking'
  | 'unpacked';

export interface TransferProgress {
  status: TransferStatus;
  /** The object: a digest, or the reference while resolving/unpacking. */
  ref: string;
  mediaType: string;
  /** Bytes moved so far. */
  offset: number;
  /** Bytes in total; 0 when unknown. */
  total: number;
}

/** May be async; it is never awaited, so a slow renderer does not slow the transfer. */
export type ProgressHandler = (p: TransferProgress) => void | Promise<void>;

/** Minimum time between byte-count events for one object. */
const BYTE_EVENT_INTERVAL_MS = 100;

export class ProgressReporter {
  private readonly last = new Map<string, number>();

  constructor(private readonly handler?: ProgressHandler) {}

  emit(p: TransferProgress): void {
    if (!this.handler) return;
    try {
      void Promise.resolve(this.handler(p)).catch(() => undefined);
    } catch {
      // a failing renderer must not fail the transfer
    }
  }

  /** A byte count, dropped when the previous one for `ref` was too recent. */
  bytes(p: TransferProgress): void {
    const now = Date.now();
    if (now - (this.last.get(p.ref) ?? 0) < BYTE_EVENT_INTERVAL_MS) return;
    this.last.set(p.ref, now);
    this.emit(p);
  }
}
