import { isDigest } from './digest.js';
import { OciError, type OciErrorDetails } from './errors.js';
import type { ConfigFile, Descriptor, Index, Manifest } from './types.js';

/** Compact JSON, keys in the order they were read or set (as ggcr and the lifecycle write it). */
export function serialise(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

function parseJson(raw: Buffer, what: string, where: string, details: OciErrorDetails): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new OciError('INVALID_JSON', `${what} ${where}: not JSON: ${(e as Error).message}`, details, { cause: e });
  }
}

export function isDescriptor(v: unknown): v is Descriptor {
  const d = v as Descriptor | null;
  return typeof d === 'object' && d !== null && typeof d.mediaType === 'string' && isDigest(d.digest) && Number.isSafeInteger(d.size) && d.size >= 0;
}

export function parseManifest(raw: Buffer, digest: string): Manifest {
  const m = parseJson(raw, 'manifest', digest, { digest }) as Manifest | null;
  if (typeof m !== 'object' || m === null || m.schemaVersion !== 2 || !isDescriptor(m.config) || !Array.isArray(m.layers) || !m.layers.every(isDescriptor)) {
    throw new OciError('INVALID_JSON', `manifest ${digest}: not an image manifest (needs schemaVersion 2, a config descriptor and a layers array of descriptors)`, { digest });
  }
  return m;
}

export function parseConfig(raw: Buffer, digest: string): ConfigFile {
  const c = parseJson(raw, 'config', digest, { digest }) as ConfigFile | null;
  if (typeof c !== 'object' || c === null || typeof c.rootfs !== 'object' || c.rootfs === null || !Array.isArray(c.rootfs.diff_ids) || !c.rootfs.diff_ids.every((d: unknown) => isDigest(d))) {
    throw new OciError('INVALID_JSON', `config ${digest}: not an image config (needs rootfs.diff_ids, a list of sha256 digests)`, { digest });
  }
  return c;
}

/** `what` names the index: a path (index.json) or a digest (a nested index). */
export function parseIndex(raw: Buffer, what: string, details: OciErrorDetails = { path: what }): Index {
  const x = parseJson(raw, 'index', what, details) as Index | null;
  if (typeof x !== 'object' || x === null || x.schemaVersion !== 2 || !Array.isArray(x.manifests) || !x.manifests.every(isDescriptor)) {
    throw new OciError('INVALID_JSON', `index ${what}: not an image index (needs schemaVersion 2 and a manifests array of descriptors with sha256 digests)`, details);
  }
  return x;
}
