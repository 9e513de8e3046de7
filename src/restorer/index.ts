// The restorer (issue #6): base images for image extension into <kaniko-dir>/cache/base,
// digest references and target data in analyzed.toml, run-image access checks (lifecycle #1590).
export * from './errors.js';
export * from './target.js';
export * from './run-image.js';
export * from './base-cache.js';
export * from './restore.js';
