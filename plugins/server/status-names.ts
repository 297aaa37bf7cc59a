// gRPC status code names as Go's codes.Code prints them ("NotFound"), the
// spelling go-grpc-prometheus puts in its grpc_code label.

const NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

export function statusCodeName(code: number): string {
  return NAMES[code] ?? `Code(${code})`;
}
