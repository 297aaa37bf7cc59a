export {
  LeaseStore,
  LEASES_KIND,
  LEASE_EXPIRE_LABEL,
  LEASE_FLAT_LABEL,
  MAX_LEASE_ID_LENGTH,
  addLeaseResourceTx,
  generateLeaseId,
  isExpired,
  isFlat,
  parseRFC3339,
  readAllLeases,
  readLeaseResources,
  readLeases,
  validateLeaseId,
  validateLeaseResource,
  type Lease,
  type LeaseManager,
  type LeaseResource,
  type LeaseStoreOptions,
  type LeaseWithResources,
  type NewLease,
} from '../../core/metadata/leases.js';
export { LeasesLocal, leaseAdaptor, leaseToProto } from './service.js';
export { collectHook, type Collector } from './collect-hook.js';
export { leaseManagerPlugin, leasesGrpcPlugin, leasesServicePlugin } from './plugin.js';
