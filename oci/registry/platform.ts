import { OciError } from '../errors.js';
import { formatPlatform, platformMatches } from '../platform.js';
import type { Descriptor, Index, Platform } from '../types.js';

/** Parses `os/arch[/variant]`; throws INVALID_REFERENCE on anything else. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new OciError('INVALID_REFERENCE', `invalid platform ${JSON.stringify(s)}: expected os/arch[/variant]`);
  }
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

/**
 * The index entry for a platform (matching as oci/platform.ts does for layouts). Throws
 * IMAGE_NOT_FOUND listing what the index offers.
 */
export function selectManifest(index: Index, want: Platform, where: string): Descriptor {
  const candidates = index.manifests.filter((d) => platformMatches(d.platform, want));
  // Without a wanted variant any matches; prefer the entry that names none either (the plain one).
  const best = (want.variant === undefined ? candidates.find((d) => !d.platform?.variant) : undefined) ?? candidates[0];
  if (!best) {
    const offered = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : '(no platform)')).join(', ');
    throw new OciError('IMAGE_NOT_FOUND', `${where}: no manifest for platform ${formatPlatform(want)} (index offers: ${offered || 'nothing'})`, { reference: where });
  }
  return best;
}
