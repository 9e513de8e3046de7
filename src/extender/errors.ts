/**
 * Error codes of the extender phase. The CLI maps them to the lifecycle's exit codes and
 * `failed to <action>` texts (src/cli/errors.ts); nothing else here knows exit codes.
 */
export type ExtenderErrorCode =
  /** Bad arguments found after flag parsing (an invalid kind). */
  | 'USAGE'
  /** `<kaniko-dir>/work.dir*` could not be created (e.g. `<kaniko-dir>` missing). */
  | 'WORK_DIR'
  /** Reading group.toml or analyzed.toml failed (initialising the extender). */
  | 'INIT'
  /** An extension declares a Buildpack API the lifecycle does not support. */
  | 'EXTENSION_API'
  /** The image reference in analyzed.toml is missing or not a digest reference. */
  | 'IMAGE_REF'
  /** The base image layout under `<kaniko-dir>/cache/base` is missing or unreadable. */
  | 'BASE_IMAGE'
  /** The base image layout has no layer blobs (a sparse layout). */
  | 'SPARSE_BASE'
  /** extend-config.toml exists but cannot be read. */
  | 'EXTEND_CONFIG'
  /** A Dockerfile could not be read, failed validation, or failed while applied. */
  | 'DOCKERFILE'
  /** kind=run: the final image user is root. */
  | 'FINAL_USER_ROOT'
  /** kind=build: an Env entry of the extended image is not `key=value`. */
  | 'ENV'
  /** Writing the extended image under `<extended>` failed. */
  | 'OUTPUT'
  /** Removing the work directory failed. */
  | 'CLEANUP'
  /** kind=build: chown of `<layers>` failed. */
  | 'CHOWN'
  /** kind=build: the builder would run as uid 0. */
  | 'BUILDER_ROOT'
  /** kind=build: no passwd entry for the uid in the extended image. */
  | 'USER_ENV'
  /** kind=build: the builder could not be started (missing binary, executor failure). */
  | 'BUILDER';

export interface ExtenderErrorDetails {
  /** The kind being extended, when the error happened while extending. */
  kind?: 'build' | 'run';
  /** A file or directory concerned. */
  path?: string;
  /** The extension whose Dockerfile or config is concerned. */
  extensionId?: string;
}

/** The one error class of src/extender: a stable `code`, a `cause`, and the path or extension concerned. */
export class ExtenderError extends Error {
  readonly code: ExtenderErrorCode;
  readonly kind: 'build' | 'run' | undefined;
  readonly path: string | undefined;
  readonly extensionId: string | undefined;

  constructor(code: ExtenderErrorCode, message: string, details: ExtenderErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ExtenderError';
    this.code = code;
    this.kind = details.kind;
    this.path = details.path;
    this.extensionId = details.extensionId;
  }
}

export function isExtenderError(e: unknown, code?: ExtenderErrorCode): e is ExtenderError {
  return e instanceof ExtenderError && (code === undefined || e.code === code);
}
