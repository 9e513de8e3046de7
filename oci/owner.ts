// Which process made a temp file or dir, and whether it still lives: so the next run can remove
// what a killed one left (a SIGKILL runs no cleanup) without touching the temp files of runs that
// are still going, in this process's PID namespace or another one sharing the directory (the
// lifecycle runs the build and run extenders at once, in two containers, on one <kaniko-dir>).
// Here, at the bottom of the module stack, so that oci (pull temp dirs), snapshot (cache temp
// entries, probes) and src (work dirs) stamp and judge names the same way.
//
// A stamp is `<pid namespace inode>.<pid>.<start time>`: the start time (clock ticks after boot,
// /proc/<pid>/stat field 22) tells a reused pid from the original process.
import { readFileSync, readlinkSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export type OwnerState = 'alive' | 'dead' | 'unknown';

const STAMP_RE = /^(\d+)\.(\d+)\.(\d+)$/;

function pidNamespace(): string | null {
  try {
    const m = /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'));
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

/** Start time of a process (field 22 of /proc/<pid>/stat), or null when it does not exist or has exited (a zombie). */
function startTime(pid: string): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null; // exited, not yet reaped
  return fields[19] ?? null; // field 22 is the 20th after the name
}

let self: string | null | undefined;

/** This process's stamp, or null where /proc cannot tell (then entries fall back to their age). */
export function selfStamp(): string | null {
  if (self === undefined) {
    const ns = pidNamespace();
    const stat = (() => {
      try {
        return readFileSync('/proc/self/stat', 'latin1');
      } catch {
        return null;
      }
    })();
    const pid = stat?.slice(0, stat.indexOf(' '));
    const start = pid ? startTime(pid) : null;
    self = ns !== null && pid && start !== null ? `${ns}.${pid}.${start}` : null;
  }
  return self;
}

/**
 * Whether the process of `stamp` is alive: 'dead' only when it is certainly gone (same PID
 * namespace, and no process with that pid and start time); 'unknown' for another namespace or a
 * string that is not a stamp.
 */
export function ownerState(stamp: string): OwnerState {
  const m = STAMP_RE.exec(stamp);
  if (!m) return 'unknown';
  const ns = pidNamespace();
  if (ns === null || m[1] !== ns) return 'unknown';
  return startTime(m[2]!) === m[3] ? 'alive' : 'dead';
}

/** The stamp inside a name made by `stampedName` (null when it has none). */
export function stampOf(name: string): string | null {
  const m = /(?:^|-)s(\d+\.\d+\.\d+)-/.exec(name);
  return m ? m[1]! : null;
}

/** `<prefix>-s<stamp>-<suffix>`, or `<prefix>-<suffix>` when there is no stamp. */
export function stampedName(prefix: string, suffix: string): string {
  const s = selfStamp();
  return s === null ? `${prefix}-${suffix}` : `${prefix}-s${s}-${suffix}`;
}

/** `.<basename of target>.tmp-s<stamp>-<suffix>`: a temp sibling of `target` that removeDeadTempSiblings can judge. */
export function tempSiblingName(target: string, suffix: string): string {
  return join(dirname(target), stampedName(`.${basename(target)}.tmp`, suffix));
}

/**
 * Removes the temp siblings of `target` (`.<name>.tmp-…`, see tempSiblingName) whose process is
 * gone: what a killed writer of `target` left. Those of live processes, of other PID namespaces,
 * and names without a stamp stay. Resolves with the names removed.
 */
export async function removeDeadTempSiblings(target: string): Promise<string[]> {
  const removed: string[] = [];
  const prefix = `.${basename(target)}.tmp-`;
  for (const name of await readdir(dirname(target)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const stamp = stampOf(name);
    if (stamp === null || ownerState(stamp) !== 'dead') continue;
    await rm(join(dirname(target), name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
