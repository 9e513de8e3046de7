// The oci/ module: image model, digests, blob store, layouts, registry client.
// Imports nothing of ours. Everything other modules use is exported here.
export * from './errors.js';
export * from './digest.js';
export * from './media-types.js';
export * from './types.js';
export type * from './image.js';
export * from './registry/index.js';
export { DirBlobStore, type BlobStore } from './blob-store.js';
export { decompressStream, sniffCompression } from './compress.js';
export { storedLayer, storeLayer, type StoredLayerOptions, type StoreLayerOptions } from './layer.js';
export { parallelGzip, type ParallelGzipOptions } from './parallel-gzip.js';
export { appendHistory, appendLayers, emptyImage, fromParts, withConfigFile, withContainerConfig, withCreated, type Addendum, type FromPartsOptions } from './mutate.js';
export { formatPlatform, hostPlatform, platformMatches } from './platform.js';
export { OciLayout, parseLayoutRef, type ImageSelector, type OpenLayoutOptions, type WriteImageOptions } from './layout.js';
export { validateJson, validateLayout, type SchemaKind } from './validate.js';
export { syncDir, writeFileAtomic } from './atomic-file.js';
export { ownerState, removeDeadTempSiblings, selfStamp, stampedName, stampOf, tempSiblingName, type OwnerState } from './owner.js';
