import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecutorError, resolveInRoot } from '../../src/executor/index.js';
import { tmpDir } from '../helpers/tmp.js';

describe('resolveInRoot: a chroot view of paths', () => {
  it('follows relative and absolute symlinks without leaving the root', async () => {
    const root = await tmpDir();
    mkdirSync(join(root, 'usr/lib64'), { recursive: true });
    symlinkSync('usr/lib64', join(root, 'lib64'));
    symlinkSync('/', join(root, 'escape'));
    symlinkSync('../../../../etc', join(root, 'usr/up'));
    symlinkSync('/usr/lib64/missing', join(root, 'dangling'));
    expect(resolveInRoot(root, '/lib64/x').rel).toBe('usr/lib64/x');
    expect(resolveInRoot(root, '/escape/etc/passwd').rel).toBe('etc/passwd');
    expect(resolveInRoot(root, '/usr/up/shadow').rel).toBe('etc/shadow');
    expect(resolveInRoot(root, '/../../etc').rel).toBe('etc');
    expect(resolveInRoot(root, 'dangling').rel).toBe('usr/lib64/missing');
    expect(resolveInRoot(root, 'dangling', { followFinal: false }).rel).toBe('dangling');
    expect(resolveInRoot(root, '/lib64/x').hostPath).toBe(join(root, 'usr/lib64/x'));
  });

  it('reports symlink loops as SYMLINK_LOOP', async () => {
    const root = await tmpDir();
    symlinkSync('b', join(root, 'a'));
    symlinkSync('a', join(root, 'b'));
    writeFileSync(join(root, 'f'), '');
    expect(() => resolveInRoot(root, '/a/x')).toThrow(ExecutorError);
    expect(() => resolveInRoot(root, '/a')).toThrow(expect.objectContaining({ code: 'SYMLINK_LOOP', root }));
    expect(resolveInRoot(root, '/f').rel).toBe('f');
  });
});
