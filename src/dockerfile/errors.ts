/** Error codes of the Dockerfile front end (src/dockerfile). Callers branch on `code`, never on text. */
export type DockerfileErrorCode =
  /** The file has no instruction at all (BuildKit: "file with no instructions"). */
  | 'EMPTY'
  /** A bad parser directive: an escape character other than \ or `, or a directive given twice. */
  | 'DIRECTIVE'
  /** A keyword that is not a Dockerfile instruction. */
  | 'UNKNOWN_INSTRUCTION'
  /** Wrong number or form of arguments (ENV without a value, SHELL not in JSON form, …). */
  | 'SYNTAX'
  /** A here-document without its terminator, or one where none is allowed. */
  | 'HEREDOC'
  /** An unknown, duplicated or malformed `--flag`. */
  | 'FLAG'
  /** An instruction other than ARG before the first FROM. */
  | 'NO_STAGE'
  /** Valid Docker syntax that an extension Dockerfile cannot use here (COPY --from, …). */
  | 'UNSUPPORTED'
  /** Variable expansion failed: `${A:?msg}`, an unterminated quote, a bad substitution. */
  | 'EXPAND';

/** Where an instruction is: 1-based first and last line (the last includes here-doc bodies). */
export interface Loc {
  file?: string;
  line: number;
  endLine: number;
}

export interface DockerfileErrorDetails {
  loc?: Loc;
  /** What the user can do about it, appended to the message. */
  hint?: string;
}

/**
 * The one error class of src/dockerfile. The message reads `<file>:<line>: <problem>` (plus a hint
 * saying what to change), so the CLI can print it as it is.
 */
export class DockerfileError extends Error {
  readonly code: DockerfileErrorCode;
  readonly loc: Loc | undefined;
  readonly file: string | undefined;
  readonly line: number | undefined;
  /** The problem without the location prefix and hint. */
  readonly detail: string;
  readonly hint: string | undefined;

  constructor(code: DockerfileErrorCode, detail: string, details: DockerfileErrorDetails = {}, options?: ErrorOptions) {
    super(formatMessage(detail, details), options);
    this.name = 'DockerfileError';
    this.code = code;
    this.detail = detail;
    this.hint = details.hint;
    this.loc = details.loc;
    this.file = details.loc?.file;
    this.line = details.loc?.line;
  }

  /** The same error located at `loc` (used when a location-free helper, e.g. expansion, failed). */
  at(loc: Loc): DockerfileError {
    if (this.loc) return this;
    return new DockerfileError(this.code, this.detail, { loc, hint: this.hint }, { cause: this.cause });
  }
}

function formatMessage(detail: string, d: DockerfileErrorDetails): string {
  const where = d.loc ? `${d.loc.file ?? 'Dockerfile'}:${d.loc.line}: ` : '';
  return `${where}${detail}${d.hint ? ` (${d.hint})` : ''}`;
}
