// The restorer's one error class. Messages are the lifecycle restorer's own texts
// (cmd/lifecycle/restorer.go, platform/run_image.go), so the CLI prints them unchanged.

export type RestoreErrorCode =
  /** A buildpack in group.toml asks for a Buildpack API this lifecycle does not support (exit 12). */
  | 'BUILDPACK_API'
  /** `-build-image` could not be read or saved to the base-image cache. */
  | 'PULL_BUILD_IMAGE'
  /** `run-image.extend = true` and the run image could not be read or saved. */
  | 'PULL_RUN_IMAGE'
  /** The run image's digest and target could not be read (extensions without run extension). */
  | 'GET_RUN_IMAGE'
  /** Platform ≥ 0.14: the run image analyzed.toml selected is listed in run.toml but cannot be read. */
  | 'RUN_IMAGE_NOT_ACCESSIBLE'
  /** bestRunImageMirrorFor: no run image given. */
  | 'RUN_IMAGE_MISSING'
  /** bestRunImageMirrorFor: neither the image nor any mirror can be read. */
  | 'NO_ACCESSIBLE_RUN_IMAGE'
  /** `<kaniko-dir>/cache/base/<digest>` exists but is not a usable OCI layout. */
  | 'BASE_CACHE'
  /** analyzed.toml could not be written. */
  | 'WRITE_ANALYZED';

export interface RestoreErrorDetails {
  /** The image reference concerned, as given (never carries credentials). */
  image?: string;
  /** The file or directory concerned. */
  path?: string;
}

export class RestoreError extends Error {
  readonly code: RestoreErrorCode;
  readonly image: string | undefined;
  readonly path: string | undefined;

  constructor(code: RestoreErrorCode, message: string, details: RestoreErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RestoreError';
    this.code = code;
    this.image = details.image;
    this.path = details.path;
  }
}

export function isRestoreError(e: unknown, code?: RestoreErrorCode): e is RestoreError {
  return e instanceof RestoreError && (code === undefined || e.code === code);
}
