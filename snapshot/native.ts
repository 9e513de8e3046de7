// The native pieces Node lacks (built from native/ by node-gyp during `npm ci`): extended
// attributes and mknod without following symlinks, and the path of the chroot helper executable.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SnapshotError } from './errors.js';

interface NativeBinding {
  llistxattr(path: string): string[];
  lgetxattr(path: string, name: string): Buffer | null;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lremovexattr(path: string, name: string): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
}

const ADDON = 'cnbx_native.node';
const HELPER = 'cnbx-chroot';

// This file runs as snapshot/native.ts (tests) and as dist/snapshot/native.js (the CLI), so the
// package root is one or two levels up.
function buildDirs(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [resolve(here, '..', 'native', 'build', 'Release'), resolve(here, '..', '..', 'native', 'build', 'Release')];
}

function findBuilt(file: string): string {
  for (const dir of buildDirs()) {
    const p = join(dir, file);
    if (existsSync(p)) return p;
  }
  throw new SnapshotError('NATIVE', `native/${file} is not built (looked in ${buildDirs().join(', ')}); run \`npm ci\` or \`npm run install\``, {
    path: join(buildDirs()[0]!, file),
  });
}

let binding: NativeBinding | undefined;

function native(): NativeBinding {
  if (binding === undefined) {
    const path = findBuilt(ADDON);
    try {
      binding = createRequire(import.meta.url)(path) as NativeBinding;
    } catch (e) {
      throw new SnapshotError('NATIVE', `cannot load ${path}: ${(e as Error).message}`, { path }, { cause: e });
    }
  }
  return binding;
}

/** Runs one native call, turning its errno error into a SnapshotError naming the path. */
function call<T>(path: string, f: (b: NativeBinding) => T): T {
  const b = native();
  try {
    return f(b);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const errno = typeof err.errno === 'number' ? ` (errno ${-err.errno})` : '';
    throw new SnapshotError('NATIVE', `${err.message}${errno}`, { path }, { cause: e });
  }
}

/** Extended attributes of the entry itself: a symlink's own attributes, never its target's. */
export const xattr = {
  /** Names of all attributes the caller may see (trusted.* only as root). */
  list(p: string): string[] {
    return call(p, (b) => b.llistxattr(p));
  },
  /** The raw value, or null when the entry has no such attribute. */
  get(p: string, name: string): Buffer | null {
    return call(p, (b) => b.lgetxattr(p, name));
  },
  set(p: string, name: string, value: Buffer): void {
    call(p, (b) => b.lsetxattr(p, name, value));
  },
  /** Removes an attribute; an absent one is an error (ENODATA). */
  remove(p: string, name: string): void {
    call(p, (b) => b.lremovexattr(p, name));
  },
};

/**
 * Creates a special file: `mode` carries the type (fs.constants.S_IFCHR, S_IFBLK, S_IFIFO) and the
 * exact permission bits (not reduced by the umask). An existing entry (even a symlink) is EEXIST.
 */
export function mknod(p: string, mode: number, major: number, minor: number): void {
  call(p, (b) => b.mknod(p, mode, major, minor));
}

/** Absolute path of the chroot helper executable built from native/src/chroot-helper.c. */
export function helperPath(): string {
  return findBuilt(HELPER);
}
