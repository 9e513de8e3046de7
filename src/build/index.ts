// The build engine: applies one parsed extension Dockerfile to an image.
export { BuildError, type BuildErrorCode, type BuildErrorDetails } from './errors.js';
export { applyDockerfile, chainID } from './engine.js';
export { buildImage, type BuildImageOptions } from './build-image.js';
export { loadExtensionDockerfile, type LoadedDockerfile } from './load.js';
export { IgnoreMatcher } from './dockerignore.js';
export type * from './types.js';
