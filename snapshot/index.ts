// The snapshot/ module: rootfs materialization, change detection, layer tars.
// Imports only ../oci/index.js of ours.
export * from './errors.js';
export * from './native.js';
export { applyLayerTar, type ApplyFormat, type ApplyOptions, type ApplyStats } from './apply.js';
export type { Logger } from './snapshotter-log.js';
export {
  chooseSnapshotter, type CommitOptions, type CommitResult, type LayerDirs, type Snapshotter, type SnapshotterName, type Workspace,
} from './snapshotter.js';
export { OverlaySnapshotter } from './overlay.js';
export { ScanSnapshotter } from './scan.js';
export { layerTar, planLayer, type Change, type LayerPlan, type PlanOptions } from './layer-writer.js';
export {
  anyIgnored, defaultIgnore, ENGINE_IGNORED_PATHS, engineIgnored, ignorePaths, LIFECYCLE_DEFAULT_DIRS, type IgnorePredicate,
} from './ignore.js';
export { keepXattr, normalizeCapability } from './layer-writer-xattrs.js';
export { extractLayer, materialize, type ExtractLayerOptions, type MaterializeOptions, type MaterializeStats } from './materialize.js';
export { chainIDs, LayerCache, verifyCache, type CacheReport, type LayerCacheOptions, type VerifyOptions } from './cache.js';
export { ownerState, selfStamp, stampedName, stampOf, type OwnerState } from './owner.js';
export { mountsUnder, unmountStale } from './overlay-mount.js';
