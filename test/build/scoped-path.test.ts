import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/build/errors.js';
import { climbsOutOfRoot, resolveScoped } from '../../src/build/scoped-path.js';
import { tmpDir } from '../helpers/tmp.js';

// The resolution itself is the executor's resolveInRoot (test/executor/root-file.test.ts); here
// only what the build module adds: its error type, and Dockerfile paths that climb out.
describe('resolveScoped', () => {
  it('resolves inside the root and reports a symlink loop as a BuildError', async () => {
    const root = await tmpDir();
    mkdirSync(join(root, 'usr/lib64'), { recursive: true });
    symlinkSync('/', join(root, 'escape'));
    symlinkSync('b', join(root, 'a'));
    symlinkSync('a', join(root, 'b'));
    expect(resolveScoped(root, '/escape/usr/lib64/x').rel).toBe('usr/lib64/x');
    let err: unknown;
    try {
      resolveScoped(root, '/a/x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('SYMLINK_LOOP');
  });

  it('detects Dockerfile paths that climb out of the context', () => {
    expect(climbsOutOfRoot('../x')).toBe(true);
    expect(climbsOutOfRoot('a/../../x')).toBe(true);
    expect(climbsOutOfRoot('a/../x')).toBe(false);
    expect(climbsOutOfRoot('/x/./y')).toBe(false);
  });
});
