import { OciError, type OciErrorCode } from '../errors.js';

/** One entry of a registry's `{"errors": [...]}` body (distribution spec "error codes"). */
export interface Diagnostic {
  code: string;
  message?: string;
  detail?: unknown;
}

export type RegistryErrorCode = Extract<OciErrorCode, 'REGISTRY' | 'UNAUTHORIZED' | 'NOT_FOUND'>;

export interface RegistryErrorDetails {
  /** HTTP status, 0 for network failures. */
  status: number;
  /** Diagnostics from the response body, when the registry sent any. */
  errors?: Diagnostic[];
  /** Whether retrying the same request later may succeed (429, 5xx, resets). */
  temporary?: boolean;
  /** The image reference or repository concerned; never carries credentials. */
  reference?: string;
  digest?: string;
  /** The server's Retry-After, in ms, when it sent one. */
  retryAfterMs?: number;
}

/**
 * A failure talking to a registry. The message names the request as "METHOD url" with the query
 * string removed (it can carry signed tokens) and never contains an Authorization value.
 */
export class RegistryError extends OciError {
  readonly status: number;
  readonly errors: readonly Diagnostic[];
  readonly temporary: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: RegistryErrorCode, message: string, details: RegistryErrorDetails, options?: ErrorOptions) {
    super(code, message, { reference: details.reference, digest: details.digest }, options);
    this.name = 'RegistryError';
    this.status = details.status;
    this.errors = details.errors ?? [];
    this.temporary = details.temporary ?? false;
    this.retryAfterMs = details.retryAfterMs;
  }
}

export function isRegistryError(e: unknown): e is RegistryError {
  return e instanceof RegistryError;
}

/** 408, 429 and 5xx except 501 (not implemented will not start working on a retry). */
export function isTemporaryStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501);
}

export function codeForStatus(status: number): RegistryErrorCode {
  if (status === 401 || status === 403) return 'UNAUTHORIZED';
  if (status === 404) return 'NOT_FOUND';
  return 'REGISTRY';
}

/** Parses a distribution error body; anything else becomes no diagnostics. */
export function parseDiagnostics(body: string): Diagnostic[] {
  try {
    const v = JSON.parse(body) as unknown;
    const errs = (v as { errors?: unknown } | null)?.errors;
    if (!Array.isArray(errs)) return [];
    return errs
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
      .map((e) => ({ code: e.code as string, ...(typeof e.message === 'string' ? { message: e.message } : {}), ...(e.detail !== undefined ? { detail: e.detail } : {}) }));
  } catch {
    return [];
  }
}

/** A URL fit for messages: no userinfo, no query (pre-signed blob URLs carry secrets there), no fragment. */
export function redactUrl(u: string | URL): string {
  try {
    const url = new URL(String(u));
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

/** Short human summary of diagnostics, e.g. "MANIFEST_UNKNOWN: manifest unknown". */
export function describeDiagnostics(errs: readonly Diagnostic[]): string {
  return errs.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ');
}
