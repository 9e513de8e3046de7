// The public library API of cnb-extender (restorer → extender → exporter).
export * from './log.js';
export * from './exporter/index.js';
export * from './executor/index.js';
export * from './dockerfile/index.js';
export * from './cnb/index.js';
export * from './extender/index.js';
export * from './restorer/index.js';
export * from './build/index.js';
