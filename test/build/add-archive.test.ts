import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractArchive, sniffArchive } from '../../src/build/add-archive.js';
import { BuildError } from '../../src/build/errors.js';
import { tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';

describe('ADD of local archives', () => {
  it('recognises tar, gzip, bzip2 and xz archives by content and extracts them', async () => {
    const base = await tmpDir();
    const src = join(base, 'src');
    mkdirSync(join(src, 'pkg/bin'), { recursive: true });
    writeFileSync(join(src, 'pkg/bin/tool'), 'tool', { mode: 0o755 });
    symlinkSync('bin/tool', join(src, 'pkg/link'));
    execFileSync('tar', ['-C', src, '-cf', join(base, 'a.tar'), 'pkg']);
    execFileSync('tar', ['-C', src, '-czf', join(base, 'a.tgz'), 'pkg']);
    execFileSync('tar', ['-C', src, '-cjf', join(base, 'a.tbz'), 'pkg']);
    execFileSync('tar', ['-C', src, '-cJf', join(base, 'a.txz'), 'pkg']);
    writeFileSync(join(base, 'plain.txt'), 'not an archive');
    expect(sniffArchive(join(base, 'plain.txt'))).toBeNull();
    for (const [file, kind] of [['a.tar', 'tar'], ['a.tgz', 'gzip'], ['a.tbz', 'bzip2'], ['a.txz', 'xz']] as const) {
      expect(sniffArchive(join(base, file))).toBe(kind);
      const root = join(base, `root-${kind}`);
      mkdirSync(root);
      await extractArchive(join(base, file), kind, root, '/opt', undefined, { line: 2 });
      expect(readFileSync(join(root, 'opt/pkg/bin/tool'), 'utf8')).toBe('tool');
      expect(lstatSync(join(root, 'opt/pkg/bin/tool')).mode & 0o777).toBe(0o755);
      expect(lstatSync(join(root, 'opt/pkg/link')).isSymbolicLink()).toBe(true);
    }
  });

  it('refuses traversal entries and never writes outside the rootfs', async () => {
    const base = await tmpDir();
    const root = join(base, 'root');
    mkdirSync(root);
    const cases = [
      [{ name: '../../evil', content: 'x' }],
      [{ name: 'a/../../../evil', content: 'x' }],
      [{ name: 'ok/.wh.hidden', content: '' }],
      [{ name: 'hl', type: 'link' as const, linkname: '../../../etc/passwd' }],
    ];
    for (const [i, entries] of cases.entries()) {
      const file = join(base, `evil${i}.tar`);
      writeFileSync(file, tarFrom(entries));
      await expect(extractArchive(file, 'tar', root, '/dest', undefined, { line: 1 })).rejects.toBeInstanceOf(BuildError);
    }
    // A symlink to / followed by an entry through it stays inside the rootfs.
    const file = join(base, 'through.tar');
    writeFileSync(file, tarFrom([
      { name: 'up', type: 'symlink', linkname: '/' },
      { name: 'up/tmp/through', content: 'inside' },
    ]));
    await extractArchive(file, 'tar', root, '/', undefined, { line: 1 });
    expect(readFileSync(join(root, 'tmp/through'), 'utf8')).toBe('inside');
    expect(existsSync('/tmp/through')).toBe(false);
    expect(readdirSync(base).filter((n) => !n.endsWith('.tar'))).toEqual(['root']);
  });
});
