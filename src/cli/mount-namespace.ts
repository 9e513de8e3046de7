// Root runs of the CLIs make overlay mounts (the overlay snapshotter, its probe) in whatever mount
// namespace they run in. In the host's, a run killed with SIGKILL (the OOM killer, a CI timeout,
// `kill -9`) leaves those mounts behind, holding its work dirs, until someone unmounts them. So a
// root CLI runs its work in a private mount namespace of its own: the process re-runs itself once
// under `unshare --mount --propagation private`, and every mount it makes disappears with it,
// however it ends. The work dirs on disk are ordinary directories again for the next run to remove.
//
//   bin.ts:  await runInPrivateMountNamespace(process.env, () => main(…));
//
// The re-run is marked in its environment (CNBX_PRIVATE_MOUNT_NS=1) so it happens once. It is
// skipped when not root (no overlay mounts then), when CNBX_NO_MOUNT_NS=1, or when `unshare` or
// `setpriv` are missing or not permitted (a container without CAP_SYS_ADMIN: no overlay mounts
// either). The outer process is only a relay: `setpriv --pdeathsig KILL` makes the inner one die
// with it (a SIGKILL of the outer process must stop the work, as it would without the relay), it
// forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT (the inner one is in its own process group, so a
// terminal's Ctrl-C reaches it once, through us), and it ends the way the inner one ended.
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';

export const MOUNT_NS_MARKER = 'CNBX_PRIVATE_MOUNT_NS';
/** The relay's pid, given to the inner process (see watchRelay). */
const RELAY_PID = 'CNBX_RELAY_PID';
export const MOUNT_NS_OPT_OUT = 'CNBX_NO_MOUNT_NS';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

type Env = Record<string, string | undefined>;

/** Whether this process should relay to a copy of itself in a private mount namespace. */
export function wantsPrivateMountNamespace(env: Env, uid = process.getuid?.()): boolean {
  if (uid !== 0 || env[MOUNT_NS_MARKER] === '1' || env[MOUNT_NS_OPT_OUT] === '1') return false;
  // One probe: both tools present and the kernel lets us unshare (fails in unprivileged containers).
  const probe = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--mount', '--propagation', 'private', '--', 'true'], {
    stdio: 'ignore',
    timeout: 5000,
  });
  return probe.status === 0;
}

/**
 * Runs this same command (process.execPath, execArgv, argv) in a private mount namespace and
 * resolves with its exit code; if it was killed by a signal, this process is killed by the same
 * signal (so callers see the same status). Resolves null when the relay does not apply: run the
 * command in this process then.
 */
export async function delegateToPrivateMountNamespace(env: Env): Promise<number | null> {
  if (!wantsPrivateMountNamespace(env)) return null;
  const argv = [
    '--pdeathsig', 'KILL', '--',
    'unshare', '--mount', '--propagation', 'private', '--',
    process.execPath, ...process.execArgv, ...process.argv.slice(1),
  ];
  const child = spawn('setpriv', argv, { stdio: 'inherit', env: { ...env, [MOUNT_NS_MARKER]: '1', [RELAY_PID]: String(process.pid) }, detached: true });
  const forward = (sig: NodeJS.Signals) => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: Error }>((resolve) => {
    child.once('error', (error) => resolve({ error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  for (const sig of FORWARDED) process.off(sig, forward);
  if ('error' in ended) return null; // could not start after all: run here
  if (ended.signal !== null) {
    process.kill(process.pid, ended.signal);
    // Signals we cannot be killed by in this state (none expected): report 128+n like a shell.
    return 128 + (constants.signals[ended.signal] ?? 0);
  }
  return ended.code ?? 1;
}

/**
 * In the inner process: die with the relay even when PR_SET_PDEATHSIG came too late (the relay
 * was killed between its fork and setpriv's prctl, which leaves the inner process running on as
 * an orphan). Checks now and every 250 ms; a no-op outside a relayed run.
 */
export function watchRelay(env: Env): void {
  const relay = env[RELAY_PID];
  if (env[MOUNT_NS_MARKER] !== '1' || relay === undefined) return;
  const check = () => {
    if (String(process.ppid) !== relay) process.kill(process.pid, 'SIGKILL');
  };
  check();
  setInterval(check, 250).unref();
}

/**
 * The entry of a CLI: relays to a copy of itself in a private mount namespace where that applies,
 * else runs `main` here (watching the relay when this is the inner copy). Either way
 * process.exitCode is the run's exit code. What `main` throws is rethrown.
 */
export async function runInPrivateMountNamespace(env: Env, main: () => Promise<number>): Promise<void> {
  const delegated = await delegateToPrivateMountNamespace(env);
  if (delegated !== null) {
    process.exitCode = delegated;
    return;
  }
  watchRelay(env);
  process.exitCode = await main();
}
