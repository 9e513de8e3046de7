import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { helperPath } from '../../snapshot/index.js';
import type { Logger } from '../log.js';
import { ExecutorError } from './errors.js';
import { encodeCleanSpec, helperErrorCode, parseStatus } from './helper-protocol.js';

// Crash hygiene for placeholders. The helper records every placeholder it creates in a journal
// (`.cnbx-chroot.<key>.<id>.journal`, flock-ed while its run lives) in a state directory: by
// default the rootfs's parent directory, so the journal sits next to the rootfs it belongs to.
// A helper that is SIGKILLed leaves its journal unlocked; the next run on the same root, or
// cleanupStalePlaceholders(), removes the placeholders still matching it and restores their
// parents' mtimes (to the nanosecond, which Node's utimes cannot do: the helper does it).

export interface JournalLocation {
  /** The rootfs, symlinks resolved (what the helper records in the journal). */
  realRoot: string;
  /** Directory holding the journals. */
  dir: string;
  /** Hex key of the rootfs in journal names. */
  key: string;
}

/** Where the journals of runs on `root` live. `stateDir` undefined: next to the rootfs. */
export async function journalLocation(root: string, stateDir?: string): Promise<JournalLocation> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (e) {
    throw new ExecutorError('BAD_SPEC', `root ${root}: ${(e as Error).message}`, { root, path: root }, { cause: e });
  }
  const key = createHash('sha256').update(realRoot).digest('hex').slice(0, 32);
  let dir = dirname(realRoot);
  if (stateDir !== undefined) {
    try {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      dir = await realpath(stateDir);
    } catch (e) {
      throw new ExecutorError('IO', `state directory ${stateDir}: ${(e as Error).message}`, { root, path: stateDir }, { cause: e });
    }
  }
  return { realRoot, dir, key };
}

export interface CleanupOptions {
  /** The state directory the runs used (ChrootExecutorOptions.stateDir); default: next to the rootfs. */
  stateDir?: string;
  /** The helper executable; default: the one built from native/. */
  helper?: string;
  log?: Logger;
  signal?: AbortSignal;
}

const MAX_STATUS = 64 * 1024;

/**
 * Removes the placeholders that killed runs (helper SIGKILLed, machine still up) left in `root`:
 * each recorded entry that is still an empty, root-owned entry of the recorded inode is removed
 * and its parent's mtime restored; journals of runs still alive (locked) are left alone. Every
 * ChrootExecutor run does this first on its root; call this when a rootfs is kept without
 * another run (e.g. before snapshotting it). Resolves with the number of entries removed.
 */
export async function cleanupStalePlaceholders(root: string, opts: CleanupOptions = {}): Promise<{ removed: number }> {
  if (opts.signal?.aborted) throw new ExecutorError('ABORTED', `cleanup of ${root} aborted before it started`, { root }, { cause: opts.signal.reason });
  const loc = await journalLocation(root, opts.stateDir);
  const helper = opts.helper ?? helperPath();
  const spec = encodeCleanSpec(loc.realRoot, { dir: loc.dir, key: loc.key });
  const { status, code, error } = await new Promise<{ status: string; code: number | null; error?: Error }>((resolve) => {
    const child = spawn(helper, [], { stdio: ['pipe', 'ignore', 'ignore', 'pipe'], env: {}, signal: opts.signal });
    let status = '';
    let error: Error | undefined;
    (child.stdio[3] as Readable).on('data', (c: Buffer) => {
      if (status.length < MAX_STATUS) status += c.toString('utf8');
    });
    (child.stdio[3] as Readable).on('error', () => {});
    const stdin = child.stdio[0] as Writable;
    stdin.on('error', () => {});
    stdin.end(spec);
    child.on('error', (e) => (error = e));
    child.on('close', (c) => resolve({ status, code: c, ...(error ? { error } : {}) }));
  });
  if (error !== undefined) {
    if (opts.signal?.aborted) throw new ExecutorError('ABORTED', `cleanup of ${root} aborted`, { root }, { cause: opts.signal.reason });
    throw new ExecutorError('HELPER', `cannot start the chroot helper ${helper}: ${error.message}`, { root, path: helper }, { cause: error });
  }
  const st = parseStatus(status);
  for (const w of st.warnings) opts.log?.warn(`placeholder cleanup: ${w}`);
  if (st.error !== undefined) {
    throw new ExecutorError(helperErrorCode(st.error.code), `cleanup of ${root}: ${st.error.message}`, { root, errno: st.error.errno || undefined });
  }
  if (code !== 0 || st.staleRemoved === undefined) {
    throw new ExecutorError('HELPER', `the chroot helper ended (exit status ${code}) without reporting the cleanup of ${root}`, { root, path: helper });
  }
  return { removed: st.staleRemoved };
}
