/** One RUN: what to execute and where its output goes. */
export interface ProcessSpec {
  /** The command and its arguments, passed to execve as they are (no shell). argv[0] without a
   *  slash is looked up in the PATH of `env` (inside the rootfs). */
  argv: string[];
  /** The complete environment, "KEY=value" each. HOME is added from /etc/passwd when absent. */
  env: string[];
  /** Absolute working directory inside the rootfs; it must exist. */
  cwd: string;
  /** Docker USER syntax: "name|uid[:group|gid]"; "" is root. */
  user: string;
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
