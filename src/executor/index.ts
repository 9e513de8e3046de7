// src/executor: runs RUN commands in a rootfs (ChrootExecutor + the native cnbx-chroot helper).
export * from './errors.js';
export * from './types.js';
export * from './user.js';
export * from './chroot.js';
export { cleanupStalePlaceholders, type CleanupOptions } from './journal.js';
export { resolveInRoot } from './root-file.js';
