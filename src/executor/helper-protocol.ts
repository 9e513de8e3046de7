// The wire format between ChrootExecutor and the cnbx-chroot helper (native/src/chroot-helper.c).
import { ExecutorError, type ExecutorErrorCode } from './errors.js';

export const SPEC_MAGIC = 'CNBX-CHROOT-1';

export interface HelperSpec {
  root: string;
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  argv: string[];
  env: string[];
  graceMs: number;
  /** Host file bound read-only on /etc/resolv.conf; null: none. */
  resolvConf: string | null;
  hosts: string | null;
  binds?: readonly { source: string; target: string; readOnly?: boolean }[];
  /** Where the placeholder journal goes, and the root's key in journal names (hex). */
  journal?: { dir: string; key: string };
}

/** NUL-separated "key=value" records: survives any byte a C string can hold. */
export function encodeSpec(s: HelperSpec): Buffer {
  const recs: string[] = [SPEC_MAGIC, `root=${s.root}`, `cwd=${s.cwd}`, `uid=${s.uid}`, `gid=${s.gid}`, `grace_ms=${Math.max(0, Math.round(s.graceMs))}`];
  for (const g of s.groups) recs.push(`group=${g}`);
  for (const a of s.argv) recs.push(`arg=${a}`);
  for (const e of s.env) recs.push(`env=${e}`);
  recs.push(`resolv=${s.resolvConf ?? ''}`, `hosts=${s.hosts ?? ''}`);
  for (const b of s.binds ?? []) recs.push(`bind_src=${b.source}`, `bind_dst=${b.target}`, `bind_ro=${b.readOnly ? 1 : 0}`);
  if (s.journal) recs.push(`journal_dir=${s.journal.dir}`, `journal_key=${s.journal.key}`);
  return encodeRecords(recs, s.root);
}

/** The spec of a clean-only helper run: remove the placeholders of killed runs on `root`. */
export function encodeCleanSpec(root: string, journal: { dir: string; key: string }): Buffer {
  return encodeRecords([SPEC_MAGIC, `root=${root}`, `journal_dir=${journal.dir}`, `journal_key=${journal.key}`, 'clean_only=1'], root);
}

function encodeRecords(recs: string[], root: string): Buffer {
  for (const r of recs) {
    if (r.includes('\0')) {
      throw new ExecutorError('BAD_SPEC', `a NUL byte cannot be passed to a process (in ${JSON.stringify(r.slice(0, 80))})`, { root });
    }
  }
  return Buffer.from(recs.map((r) => `${r}\0`).join(''), 'utf8');
}

export interface HelperStatus {
  /** The first setup error, if any. */
  error?: { code: string; errno: number; message: string };
  warnings: string[];
  /** X: the command's exit status. */
  exited?: number;
  /** S: the signal that killed the command; K: the signal that killed the helper's init. */
  signaled?: number;
  initKilled?: number;
  /** R: placeholders of killed runs removed before this run (or by a clean-only run). */
  staleRemoved?: number;
}

export function parseStatus(text: string): HelperStatus {
  const st: HelperStatus = { warnings: [] };
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    switch (f[0]) {
      case 'E':
        st.error ??= { code: f[1] ?? 'SETUP', errno: Number(f[2] ?? 0), message: f.slice(3).join('\t') };
        break;
      case 'W':
        st.warnings.push(f.slice(1).join('\t'));
        break;
      case 'X':
        st.exited = Number(f[1]);
        break;
      case 'S':
        st.signaled = Number(f[1]);
        break;
      case 'K':
        st.initKilled = Number(f[1]);
        break;
      case 'R':
        st.staleRemoved = Number(f[1]);
        break;
    }
  }
  return st;
}

const HELPER_CODES: ReadonlySet<string> = new Set<ExecutorErrorCode>(['BAD_SPEC', 'UNSAFE_ROOTFS', 'MOUNT', 'SETUP', 'NO_WORKDIR', 'EXEC', 'ABORTED']);

export function helperErrorCode(code: string): ExecutorErrorCode {
  return HELPER_CODES.has(code) ? (code as ExecutorErrorCode) : 'SETUP';
}
