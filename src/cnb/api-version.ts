// Platform and Buildpack API versions (lifecycle api/version.go, api/apis.go).

export interface ApiVersion {
  readonly major: number;
  readonly minor: number;
}

const VERSION_RE = /^v?(\d+)\.?(\d*)$/;

/** Parses `0.12`, `v0.12`, `1` (→ 1.0); undefined when it does not parse (as lifecycle's NewVersion). */
export function parseApiVersion(s: string): ApiVersion | undefined {
  const m = VERSION_RE.exec(s);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = m[2] === '' || m[2] === undefined ? 0 : Number(m[2]);
  if (!Number.isSafeInteger(major) || !Number.isSafeInteger(minor)) return undefined;
  return { major, minor };
}

export function compareApi(a: ApiVersion, b: ApiVersion): number {
  return a.major !== b.major ? Math.sign(a.major - b.major) : Math.sign(a.minor - b.minor);
}

/** `v >= other`, with `other` written as a literal like "0.12". */
export function apiAtLeast(v: ApiVersion, other: string): boolean {
  const o = parseApiVersion(other);
  if (!o) throw new Error(`bad API literal ${other}`);
  return compareApi(v, o) >= 0;
}

/**
 * Whether `supported` covers `target`: 0.x versions only cover themselves; from 1.0 a version
 * covers every lower minor of the same major (lifecycle `IsSupersetOf`).
 */
export function apiSupersetOf(supported: ApiVersion, target: ApiVersion): boolean {
  if (supported.major === 0) return compareApi(supported, target) === 0;
  return supported.major === target.major && supported.minor >= target.minor;
}

export function apiSupported(list: readonly string[], target: ApiVersion): boolean {
  return list.some((s) => apiSupersetOf(parseApiVersion(s)!, target));
}

/** Buildpack APIs the lifecycle we follow supports (lifecycle api/apis.go); extensions are checked against it too. */
export const SUPPORTED_BUILDPACK_APIS: readonly string[] = ['0.7', '0.8', '0.9', '0.10', '0.11', '0.12'];

/** Platform APIs for which the extender phase exists (the spec defines it from 0.10). */
export const EXTENDER_PLATFORM_APIS: readonly string[] = ['0.10', '0.11', '0.12', '0.13', '0.14', '0.15'];
