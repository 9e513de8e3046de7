import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerState, stampedName, stampOf, unmountStale } from '../../snapshot/index.js';
import type { Logger } from '../log.js';
import { ExtenderError } from './errors.js';

// `<kaniko-dir>/work.dir<random>`: the extender's scratch space (lifecycle: MkdirTemp(/kaniko,
// "work.dir")). It fails when `<kaniko-dir>` does not exist, as in the lifecycle. Unlike the
// lifecycle, we also remove it when the phase fails, so `<kaniko-dir>` only ever keeps `cache`;
// and since a killed extender (SIGKILL, OOM) removes nothing, each work dir names its process in
// its own name (`work.dir-s<stamp>-XXXXXX`, snapshot/owner.ts) and the next extender on the same
// <kaniko-dir> removes the work dirs of processes that are gone. The stamp is in the name, not in
// a file written after mkdtemp, so there is no moment at which a kill leaves an ownerless dir
// (that window kept such dirs for UNOWNED_STALE_MS and made the crash test flaky). Work dirs of
// live extenders (the build and the run extender share <kaniko-dir>), or of another PID
// namespace, are left alone.

const PREFIX = 'work.dir';
const OWNER_FILE = '.owner';
/** A work dir without an owner stamp (no /proc, or made by an old version) is stale after this. */
const UNOWNED_STALE_MS = 10 * 60_000;

export async function createWorkDir(kanikoDir: string, log?: Logger): Promise<string> {
  await removeDeadWorkDirs(kanikoDir, log);
  try {
    return await mkdtemp(join(kanikoDir, stampedName(PREFIX, '')));
  } catch (e) {
    throw new ExtenderError('WORK_DIR', `create work directory in ${kanikoDir}`, { path: kanikoDir }, { cause: e });
  }
}

export async function removeWorkDir(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    throw new ExtenderError('CLEANUP', `remove work directory ${dir}`, { path: dir }, { cause: e });
  }
}

/** Removes the work dirs of extenders that were killed; best effort (a failure is logged at debug). */
export async function removeDeadWorkDirs(kanikoDir: string, log?: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(kanikoDir).catch(() => [] as string[])) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(kanikoDir, name);
    // Older versions recorded the owner in a file inside the dir.
    const stamp = stampOf(name) ?? (await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => null))?.trim();
    let dead: boolean;
    if (stamp) {
      dead = ownerState(stamp) === 'dead';
    } else {
      const st = await stat(dir).catch(() => null);
      dead = st !== null && st.isDirectory() && Date.now() - st.mtimeMs > UNOWNED_STALE_MS;
    }
    if (!dead) continue;
    try {
      // Mounts of a run outside a private mount namespace (library use): never delete through them.
      await unmountStale(dir).catch(() => []);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      removed.push(dir);
      log?.debug(`Removed the work directory of a killed extender: ${dir}`);
    } catch (e) {
      log?.debug(`Could not remove ${dir} (left by a killed extender): ${(e as Error).message}`);
    }
  }
  return removed;
}
