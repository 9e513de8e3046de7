// The oci/ module: image model, digests, blob store, layouts, registry client.
// Imports nothing of ours. Everything other modules use is exported here.
export * from './errors.js';
export * from './digest.js';
export * from './media-types.js';
export * from './types.js';
export type * from './image.js';
export * from './registry/index.js';
