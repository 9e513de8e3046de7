import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OciError } from './errors.js';

// Outputs appear atomically (CONTRIBUTING): the one implementation of "temp name beside the
// target, fsync, rename, fsync of the directory", for oci/ and for the modules that import it.

/** Makes a rename durable: fsync of the directory that holds the new name. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates `path`, which must not exist yet, with `data`, and fsyncs it. */
export async function writeNewFile(path: string, data: Buffer | string, mode = 0o666): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes a small file atomically: `.<name>.tmp-<random>` beside it, fsync, rename, fsync of the
 * directory. Readers (and a crash) see the old file or the new one, never a part. Failures are
 * OciError `IO` naming the target, with the system error as `cause`; the temp file is removed.
 */
export async function writeFileAtomic(target: string, data: Buffer | string, opts: { mode?: number } = {}): Promise<void> {
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.tmp-${randomBytes(8).toString('hex')}`);
  try {
    await writeNewFile(tmp, data, opts.mode);
    await rename(tmp, target);
    await syncDir(dir);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new OciError('IO', `write: ${target}: ${e instanceof Error ? e.message : String(e)}`, { path: target }, { cause: e });
  }
}
