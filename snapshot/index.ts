// The snapshot/ module: rootfs materialization, change detection, layer tars.
// Imports only ../oci/index.js of ours.
export * from './errors.js';
export * from './native.js';
export { applyLayerTar, type ApplyFormat, type ApplyOptions, type ApplyStats } from './apply.js';
