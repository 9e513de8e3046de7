// Shared by the hostile-input tests of the build engine (test/security/build-*.test.ts): a build
// context made of files, symlinks and raw bytes; `runApply` (what `cnb-extender apply` runs) into
// the test's scratch dir; what the output image holds, read with umoci (an independent reader).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { BuildError } from '../../src/build/index.js';
import { runApply } from '../../src/cli/apply.js';
import { silentLogger } from '../../src/log.js';
import { BaseTree, type FsListing } from '../helpers/compare-layouts.js';
import { fixture } from '../helpers/fixtures.js';

/** A context entry: text or bytes, or `{ symlink: target }`, or `{ dir: true }`. */
export type ContextEntry = string | Buffer | { symlink: string } | { dir: true };

export function writeContext(dir: string, entries: Record<string, ContextEntry>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, e] of Object.entries(entries)) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    if (typeof e === 'string' || Buffer.isBuffer(e)) writeFileSync(p, e);
    else if ('symlink' in e) symlinkSync(e.symlink, p);
    else mkdirSync(p, { recursive: true });
  }
}

export interface BuildAttempt {
  ok: boolean;
  error?: BuildError;
  /** The output layout (exists only when ok). */
  out: string;
  /** The final filesystem of the output image (when ok), base included. */
  fs?: FsListing;
}

/**
 * Applies `dockerfile` with `context` on `baseLayout` (default: the busybox fixture) inside
 * `scratch`. A failure must be a BuildError and leave no output; a success is unpacked by umoci.
 */
export async function attemptBuild(scratch: string, dockerfile: string, context: Record<string, ContextEntry>, opts: { baseLayout?: string } = {}): Promise<BuildAttempt> {
  const ctx = join(scratch, 'ctx');
  writeContext(ctx, context);
  const dfDir = join(scratch, 'df');
  mkdirSync(dfDir, { recursive: true });
  writeFileSync(join(dfDir, 'Dockerfile'), dockerfile);
  const out = join(scratch, 'out');
  const baseLayout = opts.baseLayout ?? fixture('busybox');
  try {
    await runApply(
      { base: `${baseLayout}:latest`, dockerfile: join(dfDir, 'Dockerfile'), context: ctx, buildArgs: [], output: `${out}:latest`, sparse: false, snapshotter: 'auto', kind: 'build', cacheDir: join(scratch, 'cache') },
      silentLogger,
    );
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(BuildError);
    expect(() => mkdirSync(out), 'no output after a failed build').not.toThrow();
    return { ok: false, error: e as BuildError, out };
  }
  const work = join(scratch, 'describe');
  mkdirSync(work);
  const base = BaseTree.open(baseLayout, work);
  const fs = base.describe(out, { tag: 'latest', workDir: work }).fs;
  base.close();
  return { ok: true, out, fs };
}

export const HEAD = 'ARG base_image\nFROM ${base_image}\nUSER root\n';
