/** Error codes of the exporter (src/exporter). Callers branch on `code`, never on message text. */
export type ExportErrorCode =
  /** `<extended>/run` is not the single-image layout the lifecycle's exporter accepts. */
  | 'EXTENDED_LAYOUT'
  /** `run-image.extend` is true but `<extended>/run` holds no image (the lifecycle's `missing extended run image`). */
  | 'MISSING_EXTENDED'
  /** A layer tar that the lifecycle's re-tar (Go archive/tar) would reject, or that we refuse. */
  | 'BAD_LAYER'
  /** Input the exporter does not support (sparse tar entries, a global PAX header, zstd extension layers…). */
  | 'UNSUPPORTED'
  /** A full output needs run-image base blobs that are neither in the input layout nor obtainable. */
  | 'MISSING_BLOBS'
  /** `CNB_EXPERIMENTAL_MODE=error` and an experimental feature was requested. */
  | 'EXPERIMENTAL'
  /** Bad options or inputs (flags, references, Platform API gates). */
  | 'INPUT'
  /** A filesystem operation failed. */
  | 'IO';

export interface ExportErrorDetails {
  /** The file or directory concerned. */
  path?: string;
  /** The digest concerned. */
  digest?: string;
  /** Tar entry name concerned (re-tar errors). */
  entry?: string;
}

/** The one error class of the exporter: a stable `code`, a `cause`, and the path/digest/entry concerned. */
export class ExportError extends Error {
  readonly code: ExportErrorCode;
  readonly path: string | undefined;
  readonly digest: string | undefined;
  readonly entry: string | undefined;

  constructor(code: ExportErrorCode, message: string, details: ExportErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ExportError';
    this.code = code;
    this.path = details.path;
    this.digest = details.digest;
    this.entry = details.entry;
  }
}

export function isExportError(e: unknown, code?: ExportErrorCode): e is ExportError {
  return e instanceof ExportError && (code === undefined || e.code === code);
}
