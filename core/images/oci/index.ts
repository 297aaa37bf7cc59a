export * from './media-types.js';
export * from './types.js';
export * from './platform.js';
export * from './chain-id.js';
export * from './resolve.js';
export * from './gc-labels.js';
