// Retries with exponential backoff for transient registry failures: 5xx
// answers, 429, and connections that fail or drop.

export interface RetryOptions {
  /** Attempts in total, the first included (default 4). */
  attempts?: number;
  /** Delay before the second attempt (default 250 ms); doubles each time. */
  baseDelayMs?: number;
  /** Cap on any one delay (default 8 s). */
  maxDelayMs?: number;
  /** Fraction of each delay randomised away, 0..1 (default 0.2). */
  jitter?: number;
  signal?: AbortSignal;
}

/** Marks an error as worth another attempt. */
export class RetryableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'RetryableError';
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

/** True for errors a later attempt may not hit: transport failures and RetryableError. */
export function isTransient(err: unknown): boolean {
  if (err instanceof RetryableError) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/** HTTP statuses retried: server errors and rate limiting. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** The delay before attempt `n + 1` (n ≥ 1), without jitter. */
export function backoffDelay(n: number, opts: RetryOptions = {}): number {
  const base = opts.baseDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 8_000;
  return Math.min(max, base * 2 ** (n - 1));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, it throws something not transient, or the
 * attempts run out; the last error is thrown.
 */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions = {},
  retryable: (err: unknown) => boolean = isTransient,
): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.2));
  for (let n = 1; ; n++) {
    try {
      return await fn(n);
    } catch (err) {
      if (n >= attempts || !retryable(err) || opts.signal?.aborted) throw err;
      const d = backoffDelay(n, opts);
      await sleep(d - d * jitter * Math.random(), opts.signal);
    }
  }
}
