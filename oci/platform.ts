import { arch, endianness, platform } from 'node:os';
import type { Platform } from './types.js';

/** The platform images are chosen for when a caller names none: the machine we run on, in OCI terms. */
export function hostPlatform(): Platform {
  const os = platform() === 'win32' ? 'windows' : platform();
  switch (arch()) {
    case 'x64':
      return { os, architecture: 'amd64' };
    case 'arm64':
      return { os, architecture: 'arm64', variant: 'v8' };
    case 'ia32':
      return { os, architecture: '386' };
    case 'ppc64':
      return { os, architecture: endianness() === 'LE' ? 'ppc64le' : 'ppc64' };
    default:
      return { os, architecture: arch() };
  }
}

/** arm64 images usually omit the variant; v8 is what that means. */
function normVariant(p: Pick<Platform, 'architecture' | 'variant'>): string | undefined {
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === '')) return 'v8';
  return p.variant === '' ? undefined : p.variant;
}

/**
 * Whether a descriptor's platform satisfies the wanted one: same os and architecture, and the
 * same variant when the wanted platform names one.
 */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (have === undefined) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  const wv = normVariant(want);
  return wv === undefined || normVariant(have) === wv;
}

export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}
