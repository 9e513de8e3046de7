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
  const bad = configShapeProblem(c);
  if (bad !== null) throw new OciError('INVALID_JSON', `config ${digest}: ${bad}`, { digest });
  return c;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * The fields the code reads, with the types ConfigFile promises (Docker writes null for empty
 * lists and maps, so null is accepted there): a config with `history: [null]` or `Env: "x"` used
 * to get past parsing and fail later as a TypeError (found by test/hardening/fuzz-layout).
 */
function configShapeProblem(c: ConfigFile): string | null {
  const f = c as unknown as Record<string, unknown>;
  for (const k of ['os', 'architecture', 'variant', 'created', 'author']) {
    if (f[k] !== undefined && typeof f[k] !== 'string') return `"${k}" is not a string`;
  }
  if (f.history !== undefined && f.history !== null) {
    if (!Array.isArray(f.history)) return '"history" is not a list';
    for (const [i, h] of f.history.entries()) {
      if (!isObject(h)) return `history[${i}] is not an object`;
      for (const k of ['created', 'created_by', 'author', 'comment']) if (h[k] !== undefined && typeof h[k] !== 'string') return `history[${i}].${k} is not a string`;
      if (h.empty_layer !== undefined && typeof h.empty_layer !== 'boolean') return `history[${i}].empty_layer is not a boolean`;
    }
  }
  if (f.config === undefined || f.config === null) return null;
  if (!isObject(f.config)) return '"config" is not an object';
  const cc = f.config;
  for (const k of ['Env', 'Cmd', 'Entrypoint', 'Shell', 'OnBuild']) {
    if (cc[k] !== undefined && cc[k] !== null && !isStringList(cc[k])) return `config.${k} is not a list of strings`;
  }
  for (const k of ['User', 'WorkingDir', 'StopSignal']) if (cc[k] !== undefined && typeof cc[k] !== 'string') return `config.${k} is not a string`;
  for (const k of ['ExposedPorts', 'Volumes']) if (cc[k] !== undefined && cc[k] !== null && !isObject(cc[k])) return `config.${k} is not an object`;
  if (cc.Labels !== undefined && cc.Labels !== null && (!isObject(cc.Labels) || !Object.values(cc.Labels).every((v) => typeof v === 'string'))) {
    return 'config.Labels is not a map of strings';
  }
  return null;
}

/** `what` names the index: a path (index.json) or a digest (a nested index). */
export function parseIndex(raw: Buffer, what: string, details: OciErrorDetails = { path: what }): Index {
  const x = parseJson(raw, 'index', what, details) as Index | null;
  if (typeof x !== 'object' || x === null || x.schemaVersion !== 2 || !Array.isArray(x.manifests) || !x.manifests.every(isDescriptor)) {
    throw new OciError('INVALID_JSON', `index ${what}: not an image index (needs schemaVersion 2 and a manifests array of descriptors with sha256 digests)`, details);
  }
  return x;
}
