import type { Image } from '../../oci/index.js';
import type { Snapshotter } from '../../snapshot/index.js';
import type { ParsedDockerfile } from '../dockerfile/index.js';
import { applyDockerfile } from './engine.js';
import type { BuildOptions, BuildResult } from './types.js';

export interface BuildImageOptions extends Omit<BuildOptions, 'workspace'> {
  snapshotter: Snapshotter;
  /** Scratch directory for the workspace (upper dirs, mounts); removed when done. */
  workDir: string;
}

/** Opens a workspace on `base`, applies the Dockerfile, and always closes the workspace. */
export async function buildImage(base: Image, df: ParsedDockerfile, opts: BuildImageOptions): Promise<BuildResult> {
  const ws = await opts.snapshotter.open(base, { workDir: opts.workDir, ...(opts.signal ? { signal: opts.signal } : {}) });
  try {
    return await applyDockerfile(base, df, { ...opts, workspace: ws });
  } finally {
    await ws.close();
  }
}
