/** Error codes of the oci/ module. Callers branch on `code`, never on message text. */
export type OciErrorCode =
  | 'INVALID_DIGEST'
  | 'INVALID_REFERENCE'
  | 'BLOB_NOT_FOUND'
  | 'BLOB_MISSING_SPARSE'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'TOO_LARGE'
  | 'DECOMPRESS'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INVALID_JSON'
  | 'INVALID_LAYOUT'
  | 'IMAGE_NOT_FOUND'
  | 'AMBIGUOUS_IMAGE'
  | 'IO'
  | 'REGISTRY'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND';

export interface OciErrorDetails {
  /** File or directory the error is about, when there is one. */
  path?: string;
  /** Digest the error is about, when there is one. */
  digest?: string;
  /** Image reference the error is about, when there is one (never with credentials). */
  reference?: string;
}

/** The one error class of oci/: a stable `code`, an optional `cause`, and where it happened. */
export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly path: string | undefined;
  readonly digest: string | undefined;
  readonly reference: string | undefined;

  constructor(code: OciErrorCode, message: string, details: OciErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OciError';
    this.code = code;
    this.path = details.path;
    this.digest = details.digest;
    this.reference = details.reference;
  }
}

export function isOciError(e: unknown, code?: OciErrorCode): e is OciError {
  return e instanceof OciError && (code === undefined || e.code === code);
}
