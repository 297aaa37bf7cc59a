import { createHash } from 'node:crypto';
import { errInvalidArgument } from '../errors/catalogue.js';

// OCI content digests as `<algorithm>:<lowercase hex>`. Digests become path
// components under the blob root, so they are validated strictly wherever they
// enter: nothing but the exact algorithm name and hex of the exact length.

export type DigestAlgorithm = 'sha256' | 'sha512';

/** The algorithm new content is hashed with. */
export const CANONICAL_ALGORITHM: DigestAlgorithm = 'sha256';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parses and validates a digest; InvalidArgument for anything not strictly well-formed. */
export function parseDigest(digest: string): ParsedDigest {
  if (typeof digest !== 'string' || digest === '') throw errInvalidArgument('digest must be set');
  const i = digest.indexOf(':');
  const algorithm = digest.slice(0, i);
  const hex = digest.slice(i + 1);
  if (i <= 0 || !(algorithm in HEX_LENGTH)) {
    throw errInvalidArgument(`digest ${JSON.stringify(digest)}: unsupported digest algorithm`);
  }
  const want = HEX_LENGTH[algorithm as DigestAlgorithm];
  if (hex.length !== want || !/^[0-9a-f]+$/.test(hex)) {
    throw errInvalidArgument(
      `digest ${JSON.stringify(digest)}: invalid checksum digest format (want ${want} lowercase hex characters)`,
    );
  }
  return { algorithm: algorithm as DigestAlgorithm, hex };
}

/** Throws InvalidArgument unless `digest` is well-formed. */
export function validateDigest(digest: string): void {
  parseDigest(digest);
}

export function isDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

export function digestOf(data: Uint8Array | string, algorithm = CANONICAL_ALGORITHM): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
