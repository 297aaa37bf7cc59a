// Chain IDs (image-spec config.md): the identity of a stack of layers, so a
// snapshot of layers L0..Ln is named by everything under it, not just Ln.
//   ChainID(L0)     = DiffID(L0)
//   ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))

import { createHash } from 'node:crypto';
import { parseDigest } from '../../content/digest.js';

/** The chain ID of every prefix of `diffIds`: result[i] names layers 0..i. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    parseDigest(d);
    const prev = out[out.length - 1];
    out.push(
      prev === undefined
        ? d
        : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`,
    );
  }
  return out;
}

/** The chain ID of the whole stack; '' for no layers. */
export function chainId(diffIds: readonly string[]): string {
  return chainIds(diffIds).at(-1) ?? '';
}
