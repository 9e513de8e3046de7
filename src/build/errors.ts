/** Error codes of the build engine (src/build). */
export type BuildErrorCode =
  | 'RUN_FAILED'
  | 'CONTEXT_ESCAPE'
  | 'SOURCE_NOT_FOUND'
  | 'BAD_DESTINATION'
  | 'UNKNOWN_USER'
  | 'UNSUPPORTED'
  | 'BAD_ARGUMENT'
  | 'SYMLINK_LOOP'
  | 'ABORTED'
  | 'STEP_FAILED'
  | 'INVALID_DOCKERFILE';

export interface BuildErrorDetails {
  /** Dockerfile path, when known. */
  file?: string;
  /** 1-based line of the instruction. */
  line?: number;
  /** The instruction as written. */
  instruction?: string;
  /** A path the error is about. */
  path?: string;
  /** For RUN_FAILED: the command's exit code. */
  exitCode?: number;
}

/** An error while executing a Dockerfile instruction; carries the instruction and its line. */
export class BuildError extends Error {
  readonly code: BuildErrorCode;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly instruction: string | undefined;
  readonly path: string | undefined;
  readonly exitCode: number | undefined;
  constructor(code: BuildErrorCode, message: string, details: BuildErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BuildError';
    this.code = code;
    this.file = details.file;
    this.line = details.line;
    this.instruction = details.instruction;
    this.path = details.path;
    this.exitCode = details.exitCode;
  }
}
