import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type AjvDraft04 from 'ajv-draft-04';
import type { ValidateFunction } from 'ajv-draft-04';
import { DEFAULT_MAX_JSON_BYTES, DirBlobStore } from './blob-store.js';
import type { Digest } from './digest.js';
import { isOciError, OciError } from './errors.js';
import { isDockerManifestMediaType, isIndexMediaType, isManifestMediaType, layerCompression, MediaType } from './media-types.js';
import { isDescriptor, parseConfig, parseIndex, parseManifest } from './parse.js';
import type { Descriptor } from './types.js';
import { INDEX_FILE, LAYOUT_FILE } from './layout.js';
import configSchema from './schemas/config-schema.json' with { type: 'json' };
import contentDescriptor from './schemas/content-descriptor.json' with { type: 'json' };
import defsDescriptor from './schemas/defs-descriptor.json' with { type: 'json' };
import defs from './schemas/defs.json' with { type: 'json' };
import indexSchema from './schemas/image-index-schema.json' with { type: 'json' };
import layoutSchema from './schemas/image-layout-schema.json' with { type: 'json' };
import manifestSchema from './schemas/image-manifest-schema.json' with { type: 'json' };

export type SchemaKind = 'manifest' | 'index' | 'config' | 'layout';

const SCHEMA_FILES: Record<string, unknown> = {
  'config-schema.json': configSchema,
  'content-descriptor.json': contentDescriptor,
  'defs-descriptor.json': defsDescriptor,
  'defs.json': defs,
  'image-index-schema.json': indexSchema,
  'image-layout-schema.json': layoutSchema,
  'image-manifest-schema.json': manifestSchema,
};

const KIND_FILE: Record<SchemaKind, string> = {
  manifest: 'image-manifest-schema.json',
  index: 'image-index-schema.json',
  config: 'config-schema.json',
  layout: 'image-layout-schema.json',
};

// RFC 3339 date-time and a URI: the two formats the schemas use (ajv ships no formats itself).
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/;

let validators: Record<SchemaKind, ValidateFunction> | undefined;

/**
 * The upstream schemas refer to each other by file name but also carry nested `id`s (absolute
 * URLs) that would re-base those references; drop the nested ids and name each schema by its
 * file, the way the image-spec's own Go tests load them. The files themselves stay unchanged.
 */
function compile(): Record<SchemaKind, ValidateFunction> {
  // Loaded on first use: ajv is ~60 CommonJS files, and most commands never validate.
  const Ajv = (createRequire(import.meta.url)('ajv-draft-04') as typeof AjvDraft04).default;
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('date-time', DATE_TIME);
  ajv.addFormat('uri', URI);
  for (const [file, schema] of Object.entries(SCHEMA_FILES)) {
    const s = withoutIds(structuredClone(schema)) as Record<string, unknown>;
    s.id = file;
    ajv.addSchema(s, file);
  }
  const get = (k: SchemaKind): ValidateFunction => ajv.getSchema(KIND_FILE[k])!;
  return { manifest: get('manifest'), index: get('index'), config: get('config'), layout: get('layout') };
}

function withoutIds(v: unknown): unknown {
  if (Array.isArray(v)) v.forEach(withoutIds);
  else if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if (typeof o.id === 'string') delete o.id;
    Object.values(o).forEach(withoutIds);
  }
  return v;
}

/** Validates a parsed document against the OCI JSON schema of its kind; INVALID_JSON lists the violations. */
export function validateJson(kind: SchemaKind, value: unknown, where?: string): void {
  validators ??= compile();
  const v = validators[kind];
  if (!v(value)) {
    const errs = (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`).join('; ');
    throw new OciError('INVALID_JSON', `${where ?? kind}: does not match the OCI ${kind} schema: ${errs}`, where !== undefined ? { path: where } : {});
  }
}

/**
 * Checks a whole layout: `oci-layout` and `index.json` against the schemas, every manifest,
 * nested index and config reachable from the index (OCI ones against the schemas, Docker schema2
 * ones by structure), layers ↔ diff_ids, every referenced blob's size and every present blob's
 * digest, and no stray files (left-over temp files) in blobs/sha256. With `allowMissingBlobs`, layer
 * blobs may be absent (a sparse layout); manifests, indexes and configs never may.
 * Throws INVALID_LAYOUT listing every problem found.
 */
export async function validateLayout(dir: string, opts: { allowMissingBlobs?: boolean } = {}): Promise<void> {
  const problems: string[] = [];
  const store = new DirBlobStore(dir);
  const check = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      problems.push((e as Error).message);
    }
  };
  const readJson = async (file: string): Promise<unknown> => {
    try {
      return JSON.parse(await readFile(join(dir, file), 'utf8'));
    } catch (e) {
      problems.push(`${join(dir, file)}: ${(e as Error).message}`);
      return undefined;
    }
  };

  const layoutJson = await readJson(LAYOUT_FILE);
  if (layoutJson !== undefined) check(() => validateJson('layout', layoutJson, join(dir, LAYOUT_FILE)));
  const indexJson = await readJson(INDEX_FILE);
  if (indexJson !== undefined) {
    check(() => validateJson('index', indexJson, join(dir, INDEX_FILE)));
    const manifests = (indexJson as { manifests?: unknown }).manifests;
    if (Array.isArray(manifests)) {
      for (const d of manifests) if (isDescriptor(d)) await walk(d, 0);
    }
  }

  async function readBlob(d: Descriptor): Promise<Buffer | undefined> {
    try {
      return await store.read(d.digest, { size: d.size, maxBytes: DEFAULT_MAX_JSON_BYTES });
    } catch (e) {
      problems.push((e as Error).message);
      return undefined;
    }
  }

  async function walk(d: Descriptor, depth: number): Promise<void> {
    if (depth > 4) {
      problems.push(`${dir}: indexes nested too deep at ${d.digest}`);
      return;
    }
    if (isIndexMediaType(d.mediaType)) {
      const raw = await readBlob(d);
      if (raw === undefined) return;
      const where = `${store.path(d.digest)} (index)`;
      let idx;
      try {
        idx = parseIndex(raw, where);
      } catch (e) {
        problems.push((e as Error).message);
        return;
      }
      if (d.mediaType === MediaType.OciIndex) check(() => validateJson('index', idx, where));
      for (const m of idx.manifests) await walk(m, depth + 1);
    } else if (isManifestMediaType(d.mediaType)) {
      await walkManifest(d);
    }
    // Other media types (signatures, attestations, artifacts) are listed but not ours to judge.
  }

  async function walkManifest(d: Descriptor): Promise<void> {
    const raw = await readBlob(d);
    if (raw === undefined) return;
    const where = `${store.path(d.digest)} (manifest)`;
    let m;
    try {
      m = parseManifest(raw, d.digest);
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
      return;
    }
    const docker = isDockerManifestMediaType(d.mediaType);
    if (!docker) check(() => validateJson('manifest', m, where));
    else if (m.mediaType !== MediaType.DockerManifest) problems.push(`${where}: a Docker schema2 manifest must say mediaType ${MediaType.DockerManifest}`);
    if ((m.mediaType ?? d.mediaType) !== d.mediaType) problems.push(`${where}: mediaType ${m.mediaType} differs from the index descriptor's ${d.mediaType}`);

    const rawConfig = await readBlob(m.config);
    if (rawConfig !== undefined) {
      const cwhere = `${store.path(m.config.digest)} (config)`;
      try {
        const c = parseConfig(rawConfig, m.config.digest);
        if (!docker) check(() => validateJson('config', c, cwhere));
        else if (typeof c.architecture !== 'string' || typeof c.os !== 'string') problems.push(`${cwhere}: architecture and os must be strings`);
        if (c.rootfs.diff_ids.length !== m.layers.length) problems.push(`${where}: ${m.layers.length} layers but ${c.rootfs.diff_ids.length} diff_ids in its config`);
        const nonEmpty = c.history?.filter((h) => h.empty_layer !== true).length;
        if (nonEmpty !== undefined && c.history!.length > 0 && nonEmpty !== m.layers.length) problems.push(`${cwhere}: ${nonEmpty} non-empty history entries for ${m.layers.length} layers`);
      } catch (e) {
        problems.push(`${cwhere}: ${(e as Error).message}`);
      }
    }
    for (const l of m.layers) {
      if (layerCompression(l.mediaType) === undefined) problems.push(`${where}: layer ${l.digest} has an unknown media type ${l.mediaType}`);
      if (docker && l.mediaType.startsWith('application/vnd.oci.image.layer.') && layerCompression(l.mediaType) !== 'none') {
        problems.push(`${where}: layer ${l.digest} has OCI media type ${l.mediaType} in a Docker manifest`);
      }
      const st = await store.stat(l.digest);
      if (st === null) {
        if (!opts.allowMissingBlobs) problems.push(`${store.path(l.digest)}: layer blob ${l.digest} is missing`);
      } else if (st.size !== l.size) {
        problems.push(`${store.path(l.digest)}: layer blob is ${st.size} bytes, the manifest says ${l.size}`);
      }
    }
  }

  // Every file present under blobs/sha256 must be a blob whose content matches its name.
  const blobDir = join(dir, 'blobs', 'sha256');
  let names: string[] = [];
  try {
    names = await readdir(blobDir);
  } catch (e) {
    problems.push(`${blobDir}: ${(e as Error).message}`);
  }
  for (const name of names) {
    const digest = `sha256:${name}`;
    if (!/^[a-f0-9]{64}$/.test(name)) {
      problems.push(`${join(blobDir, name)}: not a blob (a left-over temp file?)`);
      continue;
    }
    try {
      await drain(await store.open(digest as Digest));
    } catch (e) {
      if (!isOciError(e, 'BLOB_NOT_FOUND')) problems.push((e as Error).message);
    }
  }

  if (problems.length > 0) {
    throw new OciError('INVALID_LAYOUT', `${dir}: invalid OCI layout:\n  ${[...new Set(problems)].join('\n  ')}`, { path: dir });
  }
}

async function drain(s: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of s) {
    // only the verification at EOF matters
  }
}
