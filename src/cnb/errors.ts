/** Error codes of the CNB file readers and writers (src/cnb). */
export type CnbErrorCode =
  /** The file exists but could not be read (permissions, a directory, I/O). */
  | 'READ'
  /** The file is not valid TOML. */
  | 'PARSE'
  /** A key holds a value of the wrong type. */
  | 'TYPE'
  /** A key that must be present is absent. */
  | 'MISSING'
  /** A value has the right type but an invalid form (e.g. an API version that does not parse). */
  | 'VALUE'
  /** The file could not be written. */
  | 'WRITE';

export interface CnbErrorDetails {
  /** The file concerned. */
  path: string;
  /** Dotted TOML key, e.g. `run-image.reference` or `group-extensions[1].id`, when the error is about one. */
  key?: string;
  /** 1-based line in the file (parse errors). */
  line?: number;
}

/** The one error class of src/cnb: a stable `code`, the file, and the key or line concerned. */
export class CnbError extends Error {
  readonly code: CnbErrorCode;
  readonly path: string;
  readonly key: string | undefined;
  readonly line: number | undefined;

  constructor(code: CnbErrorCode, message: string, details: CnbErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CnbError';
    this.code = code;
    this.path = details.path;
    this.key = details.key;
    this.line = details.line;
  }
}

export function isCnbError(e: unknown, code?: CnbErrorCode): e is CnbError {
  return e instanceof CnbError && (code === undefined || e.code === code);
}
