// Owner stamps of temp entries: the one implementation is oci/owner.ts (see there).
export { ownerState, selfStamp, stampedName, stampOf, type OwnerState } from '../oci/index.js';
