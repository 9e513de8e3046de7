// layers.md §6 hard cases 1-14 (deletions and whiteouts), through both snapshotters.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { SnapshotError } from '../../snapshot/errors.js';
import { brief, hardCaseSuite, sh, type HardCase } from './harness.js';

/** Paths whose name starts with `.wh.` under root (there must never be any on disk). */
function whiteoutFiles(root: string): string[] {
  return execFileSync('find', [root, '-name', '.wh.*'], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

const cases: HardCase[] = [
  {
    id: 1, title: 'rm of a base file → parent + whiteout',
    setup: [sh('echo old >/etc/a')],
    step: sh('rm /etc/a'),
    expect: ['etc/', 'etc/.wh.a'],
    check: (o, { root }) => {
      expect(existsSync(join(root, 'etc/a'))).toBe(false);
      expect(o.entries[1]).toMatchObject({ type: 'file', size: 0, mtime: 0 });
    },
  },
  {
    id: 2, title: 'rm -rf of a base dir → one whiteout, no child whiteouts',
    setup: [sh('mkdir -p /opt/d/y && touch /opt/d/x /opt/d/y/z')],
    step: sh('rm -rf /opt/d'),
    expect: ['opt/', 'opt/.wh.d'],
  },
  {
    id: 3, title: 'create and delete in one step → nothing',
    step: sh('touch /tmp/t && rm /tmp/t'),
    expect: [],
    check: (o) => expect(o.layer).toBeNull(),
  },
  {
    id: 4, title: 'rm and recreate a file → the file, no whiteout',
    setup: [sh('echo old >/etc/a')],
    step: sh('rm /etc/a && echo new >/etc/a'),
    expect: ['etc/', 'etc/a'],
    check: (o) => expect(o.entries[1]!.size).toBe(4),
  },
  {
    id: 5, title: 'rm -rf and recreate a dir path → explicit whiteout of the old child, before its sibling',
    setup: [sh('mkdir -p /a/b/c && touch /a/b/c/bar /a/b/other')],
    step: sh('rm -rf /a/b && mkdir -p /a/b/c && touch /a/b/c/foo'),
    expect: ['a/', 'a/b/', 'a/b/.wh.other', 'a/b/c/', 'a/b/c/.wh.bar', 'a/b/c/foo'],
  },
  {
    id: 6, title: 'rm -rf dir/* → explicit whiteouts, no opaque marker',
    setup: [sh('mkdir -p /b6/tools && touch /b6/x /b6/y /b6/tools/z')],
    step: sh('rm -rf /b6/*'),
    expect: ['b6/', 'b6/.wh.tools', 'b6/.wh.x', 'b6/.wh.y'],
  },
  {
    id: 7, title: 'recreating a dir whited out in a lower layer → no whiteouts at all',
    setup: [sh('mkdir -p /root/dirA && touch /root/dirA/f'), sh('rm -rf /root/dirA')],
    step: sh('mkdir -p /root/dirA/dirB && touch /root/dirA/dirB/g'),
    expect: ['root/', 'root/dirA/', 'root/dirA/dirB/', 'root/dirA/dirB/g'],
  },
  {
    id: 8, title: 'dir replaced by a symlink → the symlink only',
    setup: [sh('mkdir /a8 && touch /a8/a8')],
    step: sh('rm -rf /a8 && ln -s /b /a8'),
    expect: ['a8 -> /b'],
  },
  {
    id: 9, title: 'dir replaced by a file → the file only',
    setup: [sh('mkdir /x9 && touch /x9/p /x9/q')],
    step: sh('rm -rf /x9 && echo hi >/x9'),
    expect: ['x9'],
  },
  {
    id: 10, title: 'file replaced by a dir → the dir and its child',
    setup: [sh('echo >/x10')],
    step: sh('rm /x10 && mkdir /x10 && touch /x10/f'),
    expect: ['x10/', 'x10/f'],
  },
  {
    id: 11, title: 'symlink to a dir and its target removed, the name recreated as a dir',
    setup: [sh('mkdir /data && touch /data/k && ln -s data /things')],
    step: sh('rm -rf /things /data && mkdir /things'),
    expect: ['.wh.data', 'things/'],
  },
  {
    id: 12, title: 'a file named .wh.* is refused with its path',
    step: sh('touch /tmp/.wh.foo'),
    fails: (e) => {
      expect(e).toBeInstanceOf(SnapshotError);
      expect((e as SnapshotError).code).toBe('UNSUPPORTED');
      expect((e as SnapshotError).path).toBe('tmp/.wh.foo');
    },
  },
  {
    id: 13, title: 'add, remove, add again across steps → t, .wh.t, t',
    before: [sh('cp -a /etc/passwd /t'), sh('rm /t')],
    earlier: (os) => expect(os.map((o) => o.entries.map(brief))).toEqual([['t'], ['.wh.t']]),
    step: sh('cp -a /etc/passwd /t'),
    expect: ['t'],
    check: (_o, { root }) => expect(existsSync(join(root, 't'))).toBe(true),
  },
  {
    id: 14, title: 'chmod -R after an rm in an earlier step → no stale whiteout, no .wh.* on disk',
    setup: [sh('mkdir /srv && touch /srv/a /srv/b')],
    before: [sh('rm /srv/a')],
    earlier: (os) => expect(os[0]!.entries.map(brief)).toEqual(['srv/', 'srv/.wh.a']),
    step: sh('chmod -R 700 /srv'),
    expect: ['srv/', 'srv/b'],
    check: (o, { root }) => {
      expect(o.entries.map((e) => e.mode)).toEqual([0o700, 0o700]);
      expect(whiteoutFiles(root)).toEqual([]);
    },
  },
  {
    // layers.md §3 bug 33: with redirect_dir on, the upper would hold only a redirect xattr; ours
    // is off, so the rename of a lower directory is a copy (EXDEV) and the upper is self-contained.
    id: '§3-33', title: 'mv of a base directory → the whole new tree and a whiteout of the old name',
    setup: [sh('mkdir -p /opt/a/sub && echo x >/opt/a/x && echo f >/opt/a/sub/f')],
    step: sh('mv /opt/a /opt/b'),
    expect: ['opt/', 'opt/.wh.a', 'opt/b/', 'opt/b/sub/', 'opt/b/sub/f', 'opt/b/x'],
  },
];

hardCaseSuite('hard cases 1-14: deletions and whiteouts', cases);
