// The exporter: composes app images on (extended) run images and writes or pushes them.
export * from './errors.js';
export * from './extended-run-reader.js';
export { NORMALIZED_MTIME, normalizeTar, openLayerTar, retarLayerBlob, sniffLayerCompression, type TarCompression } from './retar.js';
export * from './metadata.js';
export * from './experimental.js';
export { dirToTar, type DirTarOptions } from './dir-tar.js';
export { composeAppImage, createdTime, NORMALIZED_CREATED, type AppLayerInput, type ComposeOptions, type ComposeResult, type ComposedLayer } from './compose.js';
export { imageBlobSource, prepareLayoutTarget, pushImage, withBaseBlobs, writeLayoutImage, type BaseBlobSource, type LayoutTarget, type WriteLayoutOptions } from './write.js';
export { exportImage, isLayoutIdentifier, parseSourceDateEpoch, type ExportImageOptions, type ExportImageResult, type ExportOutput } from './export.js';
