// "Nothing appeared or changed outside the test's temp dirs."
//
//   const watch = await watchOutside();           // before the attack
//   … build hostile input aimed at watch.victim, `/${watch.marker}`, `/tmp/${watch.marker}` …
//   await watch.assertUnchanged();                // after it
//
// What is compared, and why this and not more:
// - /etc (recursive), /root (two levels), the top level of `/`: nothing a test may touch; every
//   entry's type, mode, owner, size, inode and mtime must be as before, and no entry may appear
//   or vanish (tests run as root: an escape would land here first).
// - the top level of /tmp, /var/tmp and of the temp dirs' parent (CNBX_TEST_TMP): shared with
//   other tests and people working in parallel, so entries may come and go; but an entry that
//   existed before and still exists keeps its type and owner (a chown through a hostile symlink
//   shows here), the directories themselves keep mode and owner, and no entry anywhere in
//   these areas (three levels deep) carries the test's marker.
// - the victim: a directory of the test's own (outside every root the test extracts or builds
//   into) with a file and a sub-directory, the target of every hostile symlink and hardlink. It
//   is compared in full (content hashes, modes, owners, mtimes, xattrs).
// The marker is a unique name: hostile inputs write files named with it, so an escape that lands
// anywhere in the watched areas is found by name even where the area is busy.
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, writeFileSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree, renderTree } from '../helpers/tree.js';

interface Seen {
  type: number;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  ino?: number;
  mtimeMs?: number;
}

/** Strict areas: full comparison. [dir, depth] */
const STRICT: Array<[string, number]> = [['/etc', 32], ['/root', 2], ['/', 1]];
/** Entries of the strict areas that legitimately change while tests run (caches of tools). */
const STRICT_NOISE = [/^\/root\/\.(npm|cache|node-gyp|local|config|bash_history|lesshst|viminfo|wget-hsts)(\/|$)/, /^\/etc\/(mtab|ld\.so\.cache|resolv\.conf|hosts)$/];

function sharedAreas(): string[] {
  const set = new Set<string>(['/tmp', '/var/tmp', tmpdir()]);
  if (process.env.CNBX_TEST_TMP) set.add(process.env.CNBX_TEST_TMP);
  return [...set];
}

function describeStat(st: Stats, full: boolean): Seen {
  const s: Seen = { type: st.mode & 0o170000, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (full) {
    s.ino = st.ino;
    if (!st.isDirectory()) {
      s.size = st.size;
      s.mtimeMs = Math.trunc(st.mtimeMs);
    }
  }
  return s;
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function walk(dir: string, depth: number, visit: (path: string, st: Stats) => void): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  if (names.length > 20_000) return; // someone's huge scratch dir: not ours to scan
  for (const n of names) {
    const p = dir === '/' ? `/${n}` : `${dir}/${n}`;
    // Virtual and mount-only trees: nothing a test writes can be there, and reading them is slow.
    if (['/proc', '/sys', '/dev', '/run'].includes(p)) continue;
    const st = lstatOrNull(p);
    if (st === null) continue;
    visit(p, st);
    if (depth > 1 && st.isDirectory()) walk(p, depth - 1, visit);
  }
}

function snapshotStrict(): Map<string, Seen> {
  const m = new Map<string, Seen>();
  for (const [dir, depth] of STRICT) {
    const st = lstatOrNull(dir);
    if (st) m.set(dir, describeStat(st, false));
    walk(dir, depth, (p, s) => {
      if (STRICT_NOISE.some((re) => re.test(p))) return;
      // The top level of `/` is compared by name and attributes only (dir mtimes move).
      m.set(p, describeStat(s, dir !== '/' || !s.isDirectory()));
    });
  }
  return m;
}

function snapshotShared(): Map<string, Seen> {
  const m = new Map<string, Seen>();
  for (const dir of sharedAreas()) {
    const st = lstatOrNull(dir);
    if (st) m.set(dir, describeStat(st, false));
    walk(dir, 1, (p, s) => m.set(p, describeStat(s, false)));
  }
  return m;
}

export interface OutsideWatch {
  /** A unique name for hostile inputs to use in every path they try to create outside. */
  readonly marker: string;
  /** A directory outside every root: target for hostile symlinks/hardlinks (holds `secret` and `dir/inner`). */
  readonly victim: string;
  /** The test's own scratch dirs (excluded from the marker search). */
  readonly inside: string[];
  /** Another scratch dir of this test (allowed to contain the marker). */
  scratch(prefix?: string): Promise<string>;
  /** Fails the test if anything outside changed (see the top of this file). */
  assertUnchanged(): Promise<void>;
}

/** Snapshots the areas a test could escape to; call assertUnchanged() after the attack. */
export async function watchOutside(): Promise<OutsideWatch> {
  const marker = `cnbx-escape-${randomBytes(6).toString('hex')}`;
  const victimParent = await tmpDir('cnbx-victim-');
  const victim = join(victimParent, 'victim');
  mkdirSync(join(victim, 'dir'), { recursive: true });
  writeFileSync(join(victim, 'secret'), 'the secret\n', { mode: 0o600 });
  writeFileSync(join(victim, 'dir', 'inner'), 'inner\n', { mode: 0o644 });
  const inside: string[] = [];
  const victimTree = (): string[] => renderTree(dumpTree(victimParent, { mtime: true }));
  const victimBefore = victimTree();
  const strictBefore = snapshotStrict();
  const sharedBefore = snapshotShared();
  const watch: OutsideWatch = {
    marker,
    victim,
    inside,
    async scratch(prefix = 'cnbx-sec-') {
      const d = await tmpDir(prefix);
      inside.push(d);
      return d;
    },
    async assertUnchanged() {
      expect(victimTree(), 'the victim directory changed').toEqual(victimBefore);
      const problems: string[] = [];
      const strictAfter = snapshotStrict();
      for (const [p, s] of strictBefore) {
        const a = strictAfter.get(p);
        if (a === undefined) problems.push(`vanished: ${p}`);
        else if (JSON.stringify(a) !== JSON.stringify(s)) problems.push(`changed: ${p} ${JSON.stringify(s)} → ${JSON.stringify(a)}`);
      }
      for (const p of strictAfter.keys()) if (!strictBefore.has(p)) problems.push(`appeared: ${p}`);
      const sharedAfter = snapshotShared();
      const areas = new Set(sharedAreas());
      for (const [p, s] of sharedBefore) {
        const a = sharedAfter.get(p);
        if (a === undefined) continue;
        // The areas themselves in full; their children by type and owner only (other people's
        // tools legitimately chmod their own temp dirs while we run).
        const same = areas.has(p) ? JSON.stringify(a) === JSON.stringify(s) : a.type === s.type && a.uid === s.uid && a.gid === s.gid;
        if (!same) problems.push(`changed: ${p} ${JSON.stringify(s)} → ${JSON.stringify(a)}`);
      }
      const excluded = (p: string) => inside.some((d) => p === d || p.startsWith(`${d}/`)) || p === victimParent || p.startsWith(`${victimParent}/`);
      for (const area of [...sharedAreas(), '/', '/etc', '/root', dirname(victimParent)]) {
        walk(area, 3, (p) => {
          if (!excluded(p) && p.includes(marker)) problems.push(`marker found outside: ${p}`);
        });
      }
      expect(problems, 'something outside the test dirs changed').toEqual([]);
    },
  };
  return watch;
}
