// OCI runtime spec generation, shared by the client library and the CRI plugin.
export * from './spec-types.js';
export * from './capabilities.js';
export * from './env.js';
export * from './default-spec.js';
export * from './resolve-in-root.js';
export * from './user.js';
export * from './spec-opts.js';
export * from './generate.js';
