// The exporter: composes app images on (extended) run images and writes or pushes them.
export * from './errors.js';
export * from './extended-run-reader.js';
export { NORMALIZED_MTIME, normalizeTar, openLayerTar, retarLayerBlob, sniffLayerCompression, type TarCompression } from './retar.js';
