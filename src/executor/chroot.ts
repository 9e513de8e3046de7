import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { helperPath } from '../../snapshot/index.js';
import type { Logger } from '../log.js';
import { ExecutorError } from './errors.js';
import { encodeSpec, helperErrorCode, parseStatus } from './helper-protocol.js';
import { journalLocation } from './journal.js';
import { LineSplitter } from './lines.js';
import type { BindMount, Executor, ProcessSpec } from './types.js';
import { resolveUser } from './user.js';

export interface ChrootExecutorOptions {
  /** The helper executable; default: the one built from native/ (snapshot helperPath()). */
  helper?: string;
  /** After an abort: how long the command gets between SIGTERM and SIGKILL (default 10 s). */
  graceMs?: number;
  /** Host files bound read-only on /etc/resolv.conf and /etc/hosts (null: not provided). */
  resolvConf?: string | null;
  hosts?: string | null;
  /** Receives the helper's warnings (e.g. a placeholder kept because the command used it). */
  log?: Logger;
  /**
   * Directory for the placeholder journals that let a later run (or cleanupStalePlaceholders)
   * undo the placeholders of a SIGKILLed helper. Default: the rootfs's parent directory, where
   * the journal sits beside the rootfs (`.cnbx-chroot.<key>.<id>.journal`) and is deleted when
   * the run ends. null: no journal (a killed run's placeholders then stay).
   */
  stateDir?: string | null;
}

/** Status collected from the helper's fd 3 is small; anything beyond this is noise. */
const MAX_STATUS = 64 * 1024;
/** Beyond the grace period the helper itself SIGKILLs the command; this is for a stuck helper. */
const HELPER_SLACK_MS = 5000;

/**
 * Runs RUN commands with the cnbx-chroot helper: new mount, PID, IPC and UTS namespaces, fresh
 * /proc, read-only /sys, a tmpfs /dev with the usual devices, /dev/pts and /dev/shm, and the host's
 * resolv.conf and hosts bound read-only. Mount targets missing from the rootfs are created for the
 * run and removed afterwards (their parents' mtimes restored); every mount lives in the run's own
 * mount namespace and is gone when it ends. Capabilities are Docker's default set.
 * ProcessSpec.binds are mounted last, before entering the root (see BindMount). Placeholders are
 * journalled (see stateDir): a run first removes those a killed run left on the same root.
 */
export class ChrootExecutor implements Executor {
  /** ProcessSpec.binds are honoured (src/cli/extender-runtime.ts checks this before a builder run). */
  readonly supportsBinds = true as const;
  private readonly opts: ChrootExecutorOptions;
  constructor(opts: ChrootExecutorOptions = {}) {
    this.opts = opts;
  }

  async run(root: string, p: ProcessSpec, signal?: AbortSignal): Promise<{ exitCode: number }> {
    if (signal?.aborted) throw new ExecutorError('ABORTED', `RUN ${p.argv.join(' ')} aborted before it started`, { root }, { cause: signal.reason });
    if (p.argv.length === 0 || p.argv[0] === '') throw new ExecutorError('BAD_SPEC', 'RUN needs a command', { root });
    if (!p.cwd.startsWith('/')) throw new ExecutorError('BAD_SPEC', `working directory ${p.cwd} is not absolute`, { root, path: p.cwd });
    const binds = await checkBinds(root, p.binds ?? []);
    const journal = this.opts.stateDir === null ? undefined : await journalLocation(root, this.opts.stateDir);
    const user = await resolveUser(root, p.user);
    // Like runc: HOME comes from /etc/passwd unless the environment sets it.
    const env = p.env.some((e) => e.startsWith('HOME=')) ? p.env : [...p.env, `HOME=${user.home}`];
    const spec = encodeSpec({
      root,
      cwd: p.cwd,
      uid: user.uid,
      gid: user.gid,
      groups: user.groups,
      argv: p.argv,
      env,
      graceMs: this.opts.graceMs ?? 10_000,
      resolvConf: this.opts.resolvConf === undefined ? '/etc/resolv.conf' : this.opts.resolvConf,
      hosts: this.opts.hosts === undefined ? '/etc/hosts' : this.opts.hosts,
      binds,
      ...(journal ? { journal: { dir: journal.dir, key: journal.key } } : {}),
    });
    const helper = this.opts.helper ?? helperPath();
    if (signal?.aborted) throw new ExecutorError('ABORTED', `RUN ${p.argv.join(' ')} aborted before it started`, { root }, { cause: signal.reason });
    return this.spawnHelper(helper, root, spec, p, signal);
  }

  private spawnHelper(helper: string, root: string, spec: Buffer, p: ProcessSpec, signal?: AbortSignal): Promise<{ exitCode: number }> {
    return new Promise((resolvePromise, reject) => {
      // Own session: a terminal's Ctrl-C reaches the build, which aborts the RUN through `signal`;
      // if the build dies, the helper gets SIGTERM (PR_SET_PDEATHSIG) and cleans up.
      const child = spawn(helper, [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], detached: true, env: {} });
      const stdin = child.stdio[0] as Writable;
      const status = child.stdio[3] as Readable;
      const out = new LineSplitter((l) => deliver(p.stdout, l));
      const err = new LineSplitter((l) => deliver(p.stderr, l));
      let statusText = '';
      let spawnError: Error | undefined;
      let callbackError: unknown;
      let aborted = false;
      let killTimer: NodeJS.Timeout | undefined;

      const stop = () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        killTimer ??= setTimeout(() => child.kill('SIGKILL'), (this.opts.graceMs ?? 10_000) + HELPER_SLACK_MS);
      };
      const onAbort = () => {
        aborted = true;
        stop();
      };
      function deliver(cb: (l: string) => void, line: string) {
        if (callbackError !== undefined) return;
        try {
          cb(line);
        } catch (e) {
          callbackError = e; // a failing output consumer stops the RUN and is reported as such
          stop();
        }
      }
      signal?.addEventListener('abort', onAbort, { once: true });

      child.stdout!.on('data', (c: Buffer) => out.write(c));
      child.stderr!.on('data', (c: Buffer) => err.write(c));
      status.on('data', (c: Buffer) => {
        if (statusText.length < MAX_STATUS) statusText += c.toString('utf8');
      });
      status.on('error', () => {});
      stdin.on('error', () => {}); // EPIPE if the helper fails before reading its spec: reported by its status
      child.on('error', (e) => {
        spawnError = e;
      });
      stdin.end(spec);

      child.on('close', (code, sig) => {
        signal?.removeEventListener('abort', onAbort);
        if (killTimer !== undefined) clearTimeout(killTimer);
        out.end();
        err.end();
        const st = parseStatus(statusText);
        for (const w of st.warnings) this.opts.log?.warn(`RUN helper: ${w}`);
        if (st.staleRemoved) this.opts.log?.warn(`RUN helper: removed ${st.staleRemoved} placeholder(s) that a killed run left in ${root}`);
        const cmd = p.argv.join(' ');
        if (spawnError !== undefined) {
          reject(new ExecutorError('HELPER', `cannot start the chroot helper ${helper}: ${spawnError.message}`, { root, path: helper }, { cause: spawnError }));
        } else if (callbackError !== undefined) {
          reject(callbackError);
        } else if (aborted) {
          reject(new ExecutorError('ABORTED', `RUN ${cmd} aborted`, { root }, { cause: signal?.reason }));
        } else if (st.error !== undefined) {
          const e = st.error;
          const path = e.code === 'NO_WORKDIR' ? p.cwd : undefined;
          reject(new ExecutorError(helperErrorCode(e.code), `RUN ${cmd} in ${root}: ${e.message}`, { root, path, errno: e.errno || undefined }));
        } else if (st.exited !== undefined) {
          resolvePromise({ exitCode: st.exited });
        } else if (st.signaled !== undefined) {
          resolvePromise({ exitCode: 128 + st.signaled });
        } else {
          const how = sig !== null ? `signal ${sig}` : `exit status ${code}`;
          reject(new ExecutorError('HELPER', `the chroot helper ended (${how}) without reporting the command's status`, { root, path: helper }));
        }
      });
    });
  }
}

/** Binds as the helper takes them: absolute paths, existing sources (checked again by the helper). */
async function checkBinds(root: string, binds: readonly BindMount[]): Promise<BindMount[]> {
  const out: BindMount[] = [];
  for (const b of binds) {
    if (!b.source.startsWith('/')) throw new ExecutorError('BAD_SPEC', `bind source ${b.source} is not absolute`, { root, path: b.source });
    if (!b.target.startsWith('/')) throw new ExecutorError('BAD_SPEC', `bind target ${b.target} is not absolute`, { root, path: b.target });
    try {
      await stat(b.source);
    } catch (e) {
      throw new ExecutorError('BAD_SPEC', `bind source ${b.source}: ${(e as Error).message}`, { root, path: b.source }, { cause: e });
    }
    out.push({ source: b.source, target: b.target, readOnly: b.readOnly === true });
  }
  return out;
}
