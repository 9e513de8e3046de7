/**
 * A host path bind-mounted into the run (recursively), in the run's own mount namespace only.
 * A missing target (and missing parents) is created in the rootfs as a placeholder of the
 * source's type and removed afterwards; a target under /dev lands in the run's /dev tmpfs and
 * leaves nothing in the rootfs. Targets are resolved inside the root like any path the command
 * would use (symlinks followed without leaving it); /proc, /sys, /dev itself and overlapping
 * targets are refused.
 */
export interface BindMount {
  /** Host path (file or directory); it must exist. */
  source: string;
  /** Absolute path inside the root. */
  target: string;
  /** Remount read-only, submounts included. */
  readOnly?: boolean;
}

/** One RUN: what to execute and where its output goes. */
export interface ProcessSpec {
  /** The command and its arguments, passed to execve as they are (no shell). argv[0] without a
   *  slash is looked up in the PATH of `env` (inside the rootfs). */
  argv: string[];
  /** The complete environment, "KEY=value" each. HOME is added from /etc/passwd when absent. */
  env: string[];
  /** Absolute working directory inside the rootfs; it must exist. */
  cwd: string;
  /** Docker USER syntax: "name|uid[:group|gid]"; "" is uid 0, gid 0 (no /etc/passwd needed). */
  user: string;
  /** Bound after /proc, /sys, /dev, resolv.conf and hosts, before entering the root. */
  binds?: readonly BindMount[];
  /** Called once per line of the command's output (without the newline). */
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

export interface Executor {
  /**
   * Runs one command with `root` as its root filesystem and resolves with its exit status
   * (128+n when killed by signal n). Setup failures and aborts reject with an ExecutorError.
   */
  run(root: string, p: ProcessSpec, signal?: AbortSignal): Promise<{ exitCode: number }>;
}
