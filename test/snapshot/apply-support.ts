// Shared bits of the apply/cache/materialize tests.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { applyLayerTar, type ApplyFormat, type ApplyStats } from '../../snapshot/apply.js';
import type { Logger } from '../../snapshot/snapshotter-log.js';
import { tarFrom, type TarEntrySpec } from '../helpers/tar.js';

export interface TestLog extends Logger {
  warnings: string[];
  debugs: string[];
}

export function testLog(): TestLog {
  const warnings: string[] = [];
  const debugs: string[] = [];
  return {
    warnings, debugs,
    debug: (m) => debugs.push(m), info: () => {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m),
  };
}

/** Applies layers (tables or tar buffers) in order to root. */
export async function applyAll(root: string, layers: Array<TarEntrySpec[] | Buffer>, format: ApplyFormat = 'merged', log: Logger = testLog()): Promise<ApplyStats[]> {
  const out: ApplyStats[] = [];
  let i = 0;
  for (const l of layers) {
    const tar = Buffer.isBuffer(l) ? l : tarFrom(l);
    out.push(await applyLayerTar(Readable.from([tar]), root, { format, layerName: `layer${i++}`, log }));
  }
  return out;
}

/** A root dir and a sibling "outside" dir in a fresh tmp dir (for escape tests). */
export function rootAndOutside(tmp: string): { root: string; outside: string } {
  const root = join(tmp, 'root');
  const outside = join(tmp, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  return { root, outside };
}

/** Mounts layer dirs (base first) read-only as stacked overlayfs lowerdirs, runs f on the mount, unmounts. */
export async function withOverlay<T>(layerDirs: readonly string[], mnt: string, f: (mnt: string) => T | Promise<T>): Promise<T> {
  mkdirSync(mnt, { recursive: true });
  const lower = [...layerDirs].reverse().join(':');
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower},redirect_dir=off,metacopy=off`, mnt]);
  try {
    return await f(mnt);
  } finally {
    execFileSync('umount', [mnt]);
  }
}
