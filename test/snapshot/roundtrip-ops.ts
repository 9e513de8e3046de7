// Random filesystem changes for the round-trip property test, applied with fs calls that never
// follow a symlink out of the root (the fixtures have absolute symlinks such as /bin/sh →
// /bin/busybox, which from outside a chroot would point at the host).
import { execFileSync } from 'node:child_process';
import {
  appendFileSync, chmodSync, closeSync, constants, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync,
  renameSync, rmSync, symlinkSync, writeSync,
} from 'node:fs';
import fc from 'fast-check';
import { xattr } from '../../snapshot/native.js';

const PATHS = [
  'rt', 'rt/a', 'rt/b', 'rt/a/c', 'rt/f1', 'rt/a/f2', 'rt/b/f3', 'rt/a/c/f4', 'rt/ü-ñ', 'rt/a/.hidden', 'rt/a-b',
  'etc/passwd', 'etc/group', 'etc', 'home/cnb', 'tmp/x', 'bin/sh', 'usr/bin', 'root/r',
] as const;
const MODES = [0o644, 0o755, 0o600, 0o700, 0o4755, 0o2755, 0o1777, 0o444] as const;
const OWNERS = [0, 1000, 1000680000] as const;
const CAP_V2 = Buffer.from('0100000280200000000000000000000000000000', 'hex'); // cap_setuid,cap_net_raw+ep

export type Op =
  | { t: 'write'; p: string; data: string; mode: number }
  | { t: 'append'; p: string; data: string }
  | { t: 'mkdir'; p: string; mode: number }
  | { t: 'symlink'; p: string; target: string }
  | { t: 'link'; from: string; to: string }
  | { t: 'rm'; p: string }
  | { t: 'rename'; from: string; to: string }
  | { t: 'chmod'; p: string; mode: number }
  | { t: 'chown'; p: string; uid: number; gid: number }
  | { t: 'utime'; p: string; sec: number }
  | { t: 'xattr'; p: string; name: 'user.a' | 'user.b'; value: Uint8Array }
  | { t: 'cap'; p: string }
  | { t: 'rmxattr'; p: string; name: 'user.a' | 'security.capability' }
  | { t: 'fifo'; p: string };

const path = fc.constantFrom(...PATHS);
const mode = fc.constantFrom(...MODES);
const owner = fc.constantFrom(...OWNERS);

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('write' as const), p: path, data: fc.string({ maxLength: 40 }), mode }),
  fc.record({ t: fc.constant('append' as const), p: path, data: fc.string({ minLength: 1, maxLength: 10 }) }),
  fc.record({ t: fc.constant('mkdir' as const), p: path, mode }),
  fc.record({ t: fc.constant('symlink' as const), p: path, target: fc.constantFrom('f1', '../etc/passwd', '/etc/group', 'nowhere', 'a/c') }),
  fc.record({ t: fc.constant('link' as const), from: path, to: path }),
  fc.record({ t: fc.constant('rm' as const), p: path }),
  fc.record({ t: fc.constant('rename' as const), from: path, to: path }),
  fc.record({ t: fc.constant('chmod' as const), p: path, mode }),
  fc.record({ t: fc.constant('chown' as const), p: path, uid: owner, gid: owner }),
  fc.record({ t: fc.constant('utime' as const), p: path, sec: fc.integer({ min: 0, max: 2_000_000_000 }) }),
  fc.record({ t: fc.constant('xattr' as const), p: path, name: fc.constantFrom('user.a' as const, 'user.b' as const), value: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ t: fc.constant('cap' as const), p: path }),
  fc.record({ t: fc.constant('rmxattr' as const), p: path, name: fc.constantFrom('user.a' as const, 'security.capability' as const) }),
  fc.record({ t: fc.constant('fifo' as const), p: path }),
);

/** A path under root whose ancestors (inside root) are all real directories, else null. */
function safe(root: string, rel: string): string | null {
  const parts = rel.split('/');
  let cur = root;
  for (const part of parts.slice(0, -1)) {
    cur = `${cur}/${part}`;
    try {
      if (!lstatSync(cur).isDirectory()) return null;
    } catch {
      return null;
    }
  }
  return `${root}/${rel}`;
}

function kind(p: string): 'missing' | 'dir' | 'file' | 'symlink' | 'other' {
  try {
    const st = lstatSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
  } catch {
    return 'missing';
  }
}

/** Applies one op; ops that make no sense in the current tree (missing parent, …) do nothing. */
export function applyOp(root: string, op: Op): void {
  const one = 'p' in op ? safe(root, op.p) : null;
  try {
    switch (op.t) {
      case 'write': {
        // Only a regular file or nothing: opening a fifo for writing would block.
        if (one === null || (kind(one) !== 'file' && kind(one) !== 'missing')) return;
        const fd = openSync(one, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, op.mode);
        writeSync(fd, op.data);
        closeSync(fd);
        chmodSync(one, op.mode);
        return;
      }
      case 'append':
        if (one === null || kind(one) !== 'file') return;
        appendFileSync(one, op.data);
        return;
      case 'mkdir':
        if (one === null) return;
        mkdirSync(one, { mode: op.mode });
        chmodSync(one, op.mode);
        return;
      case 'symlink':
        if (one === null) return;
        symlinkSync(op.target, one);
        return;
      case 'link': {
        const from = safe(root, op.from);
        const to = safe(root, op.to);
        if (from === null || to === null || kind(from) !== 'file') return;
        linkSync(from, to);
        return;
      }
      case 'rm':
        if (one === null) return;
        rmSync(one, { recursive: true, force: true });
        return;
      case 'rename': {
        const from = safe(root, op.from);
        const to = safe(root, op.to);
        if (from === null || to === null || op.to.startsWith(`${op.from}/`)) return;
        renameSync(from, to);
        return;
      }
      case 'chmod':
        if (one === null || kind(one) === 'symlink' || kind(one) === 'missing') return;
        chmodSync(one, op.mode);
        return;
      case 'chown':
        if (one === null) return;
        lchownSync(one, op.uid, op.gid);
        return;
      case 'utime':
        if (one === null) return;
        lutimesSync(one, op.sec, op.sec);
        return;
      case 'xattr':
        if (one === null || kind(one) === 'symlink' || kind(one) === 'other') return;
        xattr.set(one, op.name, Buffer.from(op.value));
        return;
      case 'cap':
        if (one === null || kind(one) !== 'file') return;
        xattr.set(one, 'security.capability', CAP_V2);
        return;
      case 'rmxattr':
        if (one === null || kind(one) === 'missing' || kind(one) === 'symlink') return;
        xattr.remove(one, op.name);
        return;
      case 'fifo':
        if (one === null) return;
        execFileSync('mkfifo', [one], { stdio: 'ignore' });
        return;
    }
  } catch {
    // EEXIST, ENOENT, ENOTDIR, ENODATA…: the op does not apply to this tree.
  }
}
