export type SnapshotErrorCode =
  | 'UNSAFE_PATH'
  | 'BAD_LAYER'
  | 'UNSUPPORTED'
  | 'MOUNT'
  | 'NATIVE'
  | 'IO';

export interface SnapshotErrorDetails {
  /** The layer (digest or name) being applied or written. */
  layer?: string;
  /** The tar entry name concerned. */
  entry?: string;
  /** The filesystem path concerned. */
  path?: string;
}

/** The one error class of snapshot/. */
export class SnapshotError extends Error {
  readonly code: SnapshotErrorCode;
  readonly layer: string | undefined;
  readonly entry: string | undefined;
  readonly path: string | undefined;
  constructor(code: SnapshotErrorCode, message: string, details: SnapshotErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SnapshotError';
    this.code = code;
    this.layer = details.layer;
    this.entry = details.entry;
    this.path = details.path;
  }
}
