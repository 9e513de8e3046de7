import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ExtenderError } from './errors.js';

// `<kaniko-dir>/work.dir<random>`: the extender's scratch space (lifecycle: MkdirTemp(/kaniko,
// "work.dir")). It fails when `<kaniko-dir>` does not exist, as in the lifecycle. Unlike the
// lifecycle, we also remove it when the phase fails, so `<kaniko-dir>` only ever keeps `cache`.

export async function createWorkDir(kanikoDir: string): Promise<string> {
  try {
    return await mkdtemp(join(kanikoDir, 'work.dir'));
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
