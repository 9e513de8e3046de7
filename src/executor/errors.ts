/** Error codes of the RUN executor (src/executor). */
export type ExecutorErrorCode =
  | 'BAD_SPEC' // the process spec cannot be passed on (NUL byte, relative cwd, empty argv)
  | 'BAD_USER' // a USER string that is not name|uid[:group|gid]
  | 'UNKNOWN_USER' // a user name absent from the rootfs's /etc/passwd
  | 'UNKNOWN_GROUP' // a group name absent from the rootfs's /etc/group
  | 'UNSAFE_ROOTFS' // a mount target (or its parent) would lead a mount out of the rootfs
  | 'MOUNT' // /proc, /sys, /dev, resolv.conf or hosts could not be mounted
  | 'SETUP' // namespaces, placeholders, credentials
  | 'NO_WORKDIR' // the working directory does not exist in the rootfs
  | 'EXEC' // the command could not be executed (not found, not executable)
  | 'HELPER' // the helper is missing or died without a status
  | 'ABORTED' // the AbortSignal fired; the command was stopped
  | 'SYMLINK_LOOP' // more than 40 symlinks resolving a path inside the rootfs
  | 'IO';

export interface ExecutorErrorDetails {
  /** The rootfs the command was to run in. */
  root?: string;
  /** The path concerned (the rootfs passwd, a mount target, the working directory...). */
  path?: string;
  /** errno reported by the helper, when there is one. */
  errno?: number;
}

/** The one error class of the executor; `code` says what failed, `root`/`path` where. */
export class ExecutorError extends Error {
  readonly code: ExecutorErrorCode;
  readonly root: string | undefined;
  readonly path: string | undefined;
  readonly errno: number | undefined;
  constructor(code: ExecutorErrorCode, message: string, details: ExecutorErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ExecutorError';
    this.code = code;
    this.root = details.root;
    this.path = details.path;
    this.errno = details.errno;
  }
}
