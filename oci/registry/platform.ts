import { arch } from 'node:os';
import { OciError } from '../errors.js';
import type { Descriptor, Index, Platform } from '../types.js';

const NODE_TO_OCI_ARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  loong64: { architecture: 'loong64' },
  mips64el: { architecture: 'mips64le' },
};

/** The platform of this machine in OCI terms (linux, since images run on Linux). */
export function hostPlatform(): Platform {
  const a = NODE_TO_OCI_ARCH[arch()] ?? { architecture: arch() };
  return { os: 'linux', ...a };
}

/** `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Parses `os/arch[/variant]`; throws INVALID_REFERENCE on anything else. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new OciError('INVALID_REFERENCE', `invalid platform ${JSON.stringify(s)}: expected os/arch[/variant]`);
  }
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

/** Default variants as containerd normalises them (arm64 → v8, arm → v7; amd64 v1 is no variant). */
function normalise(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): { os: string; architecture: string; variant: string } {
  let variant = p.variant ?? '';
  if (p.architecture === 'arm64' && variant === '') variant = 'v8';
  if (p.architecture === 'arm' && variant === '') variant = 'v7';
  if (p.architecture === 'amd64' && variant === 'v1') variant = '';
  return { os: p.os, architecture: p.architecture, variant };
}

/** Whether an index entry's platform satisfies the wanted one (an unset wanted variant accepts any). */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  const w = normalise(want);
  const h = normalise(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  return want.variant === undefined || w.variant === h.variant;
}

/**
 * The index entry for a platform: an exact variant match first, then any entry matching os and
 * architecture. Throws IMAGE_NOT_FOUND listing what the index offers.
 */
export function selectManifest(index: Index, want: Platform, where: string): Descriptor {
  const candidates = index.manifests.filter((d) => platformMatches(want, d.platform));
  const w = normalise(want);
  const best = candidates.find((d) => d.platform && normalise(d.platform).variant === w.variant) ?? candidates[0];
  if (!best) {
    const offered = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : '(no platform)')).join(', ');
    throw new OciError('IMAGE_NOT_FOUND', `${where}: no manifest for platform ${formatPlatform(want)} (index offers: ${offered || 'nothing'})`, { reference: where });
  }
  return best;
}
