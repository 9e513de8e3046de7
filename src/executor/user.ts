import { join } from 'node:path';
import { ExecutorError } from './errors.js';
import { readFileInRoot } from './root-file.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the /etc/group entries listing the user, when no group was given. */
  groups: number[];
  /** From /etc/passwd; "/" for a uid without an entry. */
  home: string;
  /** The passwd entry's name, when there is one. */
  name?: string;
}

const MAX_DB = 16 * 1024 * 1024;
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to setuid()

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

function parseId(s: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function lines(buf: Buffer | null): string[][] {
  if (buf === null) return [];
  return buf.toString('utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

function parsePasswd(buf: Buffer | null): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(buf)) {
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f[0] === undefined || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

function parseGroup(buf: Buffer | null): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(buf)) {
    const gid = parseId(f[2] ?? '');
    if (f[0] === undefined || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

/**
 * Resolves a Docker USER string ("name", "uid", "name:group", "uid:gid", "" for root) against
 * the rootfs's /etc/passwd and /etc/group, read without following any symlink out of `root`.
 * Same rules as runc's GetExecUser (what Docker and BuildKit use for RUN):
 * - "" is uid 0, gid 0: the first passwd entry with uid 0 gives HOME and supplementary groups
 *   when there is one; a rootfs without /etc/passwd (distroless) runs as 0:0 with HOME=/.
 * - a numeric user is always a uid, never a name (a user named "42" is not user 42); without a
 *   passwd entry it is used as it is, with gid 0 and HOME=/. A numeric group is always a gid.
 * - a name (even "root") absent from passwd is UNKNOWN_USER, naming the user and the file; an
 *   unknown group name is UNKNOWN_GROUP.
 * - supplementary groups come from /etc/group only when no group was given.
 */
export async function resolveUser(root: string, user: string): Promise<ResolvedUser> {
  const colon = user.indexOf(':');
  const userArg = colon < 0 ? user : user.slice(0, colon);
  const groupArg = colon < 0 ? '' : user.slice(colon + 1);
  if (user.includes('\0') || groupArg.includes(':')) {
    throw new ExecutorError('BAD_USER', `invalid user "${user}": expected name|uid[:group|gid]`, { root });
  }
  const passwdPath = join(root, 'etc/passwd');
  const groupPath = join(root, 'etc/group');
  const passwdBuf = await readFileInRoot(root, '/etc/passwd', MAX_DB);
  const users = parsePasswd(passwdBuf);

  const numeric = userArg === '' ? 0 : parseNumeric(userArg);
  if (numeric === 'out-of-range') {
    throw new ExecutorError('UNKNOWN_USER', `unable to find user ${userArg}: uid out of range (0-${MAX_ID})`, { root, path: passwdPath });
  }
  const entry = numeric !== undefined ? users.find((u) => u.uid === numeric) : users.find((u) => u.name === userArg);
  const out: ResolvedUser = { uid: 0, gid: 0, groups: [], home: '/' };
  if (entry !== undefined) {
    out.uid = entry.uid;
    out.gid = entry.gid;
    out.home = entry.home === '' ? '/' : entry.home;
    out.name = entry.name;
  } else if (numeric !== undefined) {
    out.uid = numeric;
  } else {
    const why = passwdBuf === null ? `the rootfs has no /etc/passwd (${passwdPath})` : `no matching entry in ${passwdPath}`;
    throw new ExecutorError('UNKNOWN_USER', `unable to find user ${userArg}: ${why}`, { root, path: passwdPath });
  }

  if (groupArg !== '') {
    const gidArg = parseNumeric(groupArg);
    if (gidArg === 'out-of-range') {
      throw new ExecutorError('UNKNOWN_GROUP', `unable to find group ${groupArg}: gid out of range (0-${MAX_ID})`, { root, path: groupPath });
    }
    const groups = parseGroup(await readFileInRoot(root, '/etc/group', MAX_DB));
    const g = gidArg !== undefined ? groups.find((e) => e.gid === gidArg) : groups.find((e) => e.name === groupArg);
    if (g !== undefined) out.gid = g.gid;
    else if (gidArg !== undefined) out.gid = gidArg;
    else throw new ExecutorError('UNKNOWN_GROUP', `unable to find group ${groupArg}: no matching entry in ${groupPath}`, { root, path: groupPath });
  } else if (entry !== undefined) {
    const groups = parseGroup(await readFileInRoot(root, '/etc/group', MAX_DB));
    for (const g of groups) if (g.members.includes(entry.name) && !out.groups.includes(g.gid)) out.groups.push(g.gid);
  }
  return out;
}

/** A decimal id as runc's strconv.Atoi sees one: digits (leading zeros allowed); undefined if not a number. */
function parseNumeric(s: string): number | 'out-of-range' | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : 'out-of-range';
}
