// src/cnb: typed readers and writers for the lifecycle's TOML files (analyzed, group, run,
// extend-config) and the API version rules. Used by the extender, restorer and exporter.
export * from './errors.js';
export * from './toml-file.js';
export * from './analyzed.js';
export * from './group.js';
export * from './run-toml.js';
export * from './extend-config.js';
export * from './api-version.js';
export * from './escape-id.js';
