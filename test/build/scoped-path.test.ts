import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/build/errors.js';
import { climbsOutOfRoot, resolveScoped } from '../../src/build/scoped-path.js';
import { tmpDir } from '../helpers/tmp.js';

describe('resolveScoped: a chroot view of paths', () => {
  it('follows relative and absolute symlinks without leaving the root', async () => {
    const root = await tmpDir();
    mkdirSync(join(root, 'usr/lib64'), { recursive: true });
    symlinkSync('usr/lib64', join(root, 'lib64'));
    symlinkSync('/', join(root, 'escape'));
    symlinkSync('../../../../etc', join(root, 'usr/up'));
    symlinkSync('/usr/lib64/missing', join(root, 'dangling'));
    expect(resolveScoped(root, '/lib64/x').rel).toBe('usr/lib64/x');
    expect(resolveScoped(root, '/escape/etc/passwd').rel).toBe('etc/passwd');
    expect(resolveScoped(root, '/usr/up/shadow').rel).toBe('etc/shadow');
    expect(resolveScoped(root, '/../../etc').rel).toBe('etc');
    expect(resolveScoped(root, 'dangling').rel).toBe('usr/lib64/missing');
    expect(resolveScoped(root, 'dangling', { followFinal: false }).rel).toBe('dangling');
    expect(resolveScoped(root, '/lib64/x').hostPath).toBe(join(root, 'usr/lib64/x'));
  });

  it('reports symlink loops as a typed error', async () => {
    const root = await tmpDir();
    symlinkSync('b', join(root, 'a'));
    symlinkSync('a', join(root, 'b'));
    writeFileSync(join(root, 'f'), '');
    expect(() => resolveScoped(root, '/a/x')).toThrow(BuildError);
    let code: string | undefined;
    try {
      resolveScoped(root, '/a');
    } catch (e) {
      code = (e as BuildError).code;
    }
    expect(code).toBe('SYMLINK_LOOP');
  });

  it('detects Dockerfile paths that climb out of the context', () => {
    expect(climbsOutOfRoot('../x')).toBe(true);
    expect(climbsOutOfRoot('a/../../x')).toBe(true);
    expect(climbsOutOfRoot('a/../x')).toBe(false);
    expect(climbsOutOfRoot('/x/./y')).toBe(false);
  });
});
