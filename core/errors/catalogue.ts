// The one error catalogue. Every layer throws BerthError with a stable code; the
// wire adapters (gRPC, ttrpc) map codes to status numbers here and nowhere else.

export const ErrorCodes = {
  Unknown: 2,
  Canceled: 1,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  NotImplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** gRPC status code numbers (shared by gRPC and ttrpc's google.rpc.Status). */
export const StatusCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

// containerd renders errdefs errors as "<context>: not found"; we keep the same
// suffixes so messages read the same through ctr and our own CLI.
const suffix: Record<ErrorCode, string> = {
  Unknown: 'unknown',
  Canceled: 'context canceled',
  InvalidArgument: 'invalid argument',
  DeadlineExceeded: 'context deadline exceeded',
  NotFound: 'not found',
  AlreadyExists: 'already exists',
  PermissionDenied: 'permission denied',
  ResourceExhausted: 'resource exhausted',
  FailedPrecondition: 'failed precondition',
  Aborted: 'aborted',
  OutOfRange: 'out of range',
  NotImplemented: 'not implemented',
  Internal: 'internal',
  Unavailable: 'unavailable',
  DataLoss: 'data loss',
};

export class BerthError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BerthError';
    this.code = code;
  }

  /** Status code number for gRPC and ttrpc responses. */
  get status(): number {
    return ErrorCodes[this.code];
  }
}

function make(code: ErrorCode) {
  return (context: string, options?: { cause?: unknown }) =>
    new BerthError(code, context ? `${context}: ${suffix[code]}` : suffix[code], options);
}

export const errNotFound = make('NotFound');
export const errAlreadyExists = make('AlreadyExists');
export const errInvalidArgument = make('InvalidArgument');
export const errFailedPrecondition = make('FailedPrecondition');
export const errUnavailable = make('Unavailable');
export const errNotImplemented = make('NotImplemented');
export const errInternal = make('Internal');
export const errCanceled = make('Canceled');
export const errDeadlineExceeded = make('DeadlineExceeded');
export const errResourceExhausted = make('ResourceExhausted');
export const errAborted = make('Aborted');

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

export const isNotFound = (err: unknown) => isBerthError(err, 'NotFound');
export const isAlreadyExists = (err: unknown) => isBerthError(err, 'AlreadyExists');

/** Map any thrown value to a status code and message for the wire. */
export function toStatus(err: unknown): { code: number; message: string } {
  if (err instanceof BerthError) return { code: err.status, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  // A system error nobody wrapped still gets the status its errno means (a
  // full disk is ResourceExhausted, not Unknown).
  const errno = (err as { code?: unknown } | undefined)?.code;
  const mapped =
    typeof errno === 'string' && CONTEXT_FREE_ERRNOS.has(errno) ? ERRNO_CODES[errno] : undefined;
  return { code: mapped ? ErrorCodes[mapped] : StatusCode.UNKNOWN, message };
}

/** The catalogue code for each errno a filesystem operation may fail with (fs.ts wraps them). */
export const ERRNO_CODES: Readonly<Record<string, ErrorCode>> = {
  ENOSPC: 'ResourceExhausted',
  EDQUOT: 'ResourceExhausted',
  EMFILE: 'ResourceExhausted',
  ENFILE: 'ResourceExhausted',
  ENOMEM: 'ResourceExhausted',
  EPERM: 'PermissionDenied',
  EACCES: 'PermissionDenied',
  EROFS: 'FailedPrecondition',
  ENOENT: 'NotFound',
  EEXIST: 'AlreadyExists',
  ENOTDIR: 'InvalidArgument',
  EISDIR: 'InvalidArgument',
  ENOTEMPTY: 'FailedPrecondition',
  EINVAL: 'InvalidArgument',
  ENAMETOOLONG: 'InvalidArgument',
  ELOOP: 'InvalidArgument',
  EXDEV: 'InvalidArgument',
  EIO: 'DataLoss',
};

/**
 * Errnos that mean the same whatever failed, so an unwrapped one still gets
 * its status on the wire (a full disk is ResourceExhausted, not Unknown); an
 * unwrapped ENOENT could be any file, so it stays Unknown.
 */
const CONTEXT_FREE_ERRNOS: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'EMFILE',
  'ENFILE',
  'EACCES',
  'EPERM',
  'EROFS',
]);

const byNumber = new Map<number, ErrorCode>(
  Object.entries(ErrorCodes).map(([k, v]) => [v, k as ErrorCode]),
);

/** Rebuild a BerthError from a status received off the wire. */
export function fromStatus(code: number, message: string): BerthError {
  const c = code === StatusCode.UNAUTHENTICATED ? 'PermissionDenied' : byNumber.get(code);
  return new BerthError(c ?? 'Unknown', message);
}
