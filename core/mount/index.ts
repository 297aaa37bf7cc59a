// The one mount package: the Mount type, option parsing, overlay compaction,
// and mounting/unmounting a Mount[] at a target.
export type { Mount } from './types.js';
export { parseMountOptions, type ParsedOptions } from './options.js';
export {
  commonDirectory,
  compactLowerdir,
  optionsSize,
  PAGE_SIZE,
  type CompactedMount,
} from './compaction.js';
export { mountAll, mountOne, unmountAll } from './mount.js';
