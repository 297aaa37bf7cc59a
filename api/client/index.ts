export { Client } from './client.js';
export type { Container, Envelope, Namespace, Plugin, VersionResponse } from './client.js';
export { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, type ConnectionOptions } from './connection.js';
export { BerthError, isNotFound, isAlreadyExists } from '../errors.js';
