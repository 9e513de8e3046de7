// removeTreeSync: the work-dir remover whose memory does not grow with a directory's entry count.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeTreeSync } from '../../snapshot/remove-tree.js';
import { isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

describe('removeTreeSync', () => {
  it('removes a tree of files, dirs, symlinks, fifos and names that are not UTF-8, without following links', async () => {
    const t = await tmpDir();
    const outside = join(t, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'k');
    const root = join(t, 'root');
    mkdirSync(join(root, 'a', 'b', 'c'), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(join(root, 'a', `f${i}`), '');
    writeFileSync(join(root, 'a', 'b', 'c', 'deep'), 'x');
    symlinkSync(outside, join(root, 'a', 'link-to-dir'));
    symlinkSync('/nonexistent', join(root, 'dangling'));
    execFileSync('mkfifo', [join(root, 'a', 'fifo')]);
    // Names that are not valid UTF-8: a file, and a directory holding one.
    const rootB = Buffer.from(root);
    mkdirSync(Buffer.concat([rootB, Buffer.from([0x2f, 0xfd])]));
    writeFileSync(Buffer.concat([rootB, Buffer.from([0x2f, 0xfd, 0x2f, 0xfc])]), 'x');
    writeFileSync(Buffer.concat([rootB, Buffer.from('/a/b/'), Buffer.from([0xff])]), 'x');
    removeTreeSync(root);
    expect(existsSync(root)).toBe(false);
    expect(readdirSync(outside)).toEqual(['keep']);
  });

  it('a missing path is not an error; a single file is removed', async () => {
    const t = await tmpDir();
    expect(() => removeTreeSync(join(t, 'none'))).not.toThrow();
    writeFileSync(join(t, 'f'), 'x');
    removeTreeSync(join(t, 'f'));
    expect(readdirSync(t)).toEqual([]);
  });

  it.runIf(isRoot)('a failure is a typed IO error naming the path, with the system error as cause', async () => {
    const t = await tmpDir();
    mkdirSync(join(t, 'd'));
    writeFileSync(join(t, 'd', 'f'), 'x');
    let immutable = true;
    try {
      execFileSync('chattr', ['+i', join(t, 'd', 'f')], { stdio: 'ignore' });
    } catch {
      immutable = false; // a filesystem without the flag (tmpfs): nothing to check here
    }
    if (!immutable) return;
    try {
      expect(() => removeTreeSync(join(t, 'd'))).toThrow(expect.objectContaining({ name: 'SnapshotError', code: 'IO', path: join(t, 'd', 'f'), cause: expect.objectContaining({ code: 'EPERM' }) }));
    } finally {
      execFileSync('chattr', ['-i', join(t, 'd', 'f')]);
    }
  });
});
