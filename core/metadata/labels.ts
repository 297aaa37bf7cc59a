import { errInvalidArgument } from '../errors/catalogue.js';

/** containerd's limit on a label's key plus value, in bytes. */
export const MAX_LABEL_SIZE = 4096;
// How much of an oversized key to quote back in the error.
const MAX_QUOTED_KEY = 64;

export type Labels = Record<string, string>;

/** Throws InvalidArgument unless the label would be accepted by containerd. */
export function validateLabel(key: string, value: string): void {
  if (typeof key !== 'string' || key.length === 0)
    throw errInvalidArgument('label key must not be empty');
  if (typeof value !== 'string')
    throw errInvalidArgument(`label ${JSON.stringify(key)} value must be a string`);
  const total = Buffer.byteLength(key) + Buffer.byteLength(value);
  if (total > MAX_LABEL_SIZE) {
    throw errInvalidArgument(
      `label key and value length (${total} bytes) greater than maximum size (${MAX_LABEL_SIZE} bytes), key: ${key.slice(0, MAX_QUOTED_KEY)}`,
    );
  }
}

/** Validate every label; `what` names the field in the message (e.g. "container.Labels"). */
export function validateLabels(labels: Labels, what = 'labels'): void {
  if (labels === null || typeof labels !== 'object')
    throw errInvalidArgument(`${what} must be a map of strings`);
  for (const [key, value] of Object.entries(labels)) {
    try {
      validateLabel(key, value);
    } catch (err) {
      throw errInvalidArgument(
        `${what}: ${(err as Error).message.replace(/: invalid argument$/, '')}`,
      );
    }
  }
}

/** Copy without empty values: an empty value means "no such label", as in containerd. */
export function compactLabels(labels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [key, value] of Object.entries(labels ?? {})) if (value !== '') out[key] = value;
  return out;
}
