import type { Logger } from '../log.js';
import { readTomlFile, TomlReader, writeTomlFileAtomic, isTable, type TomlTable } from './toml-file.js';

// analyzed.toml (lifecycle platform/files/analyzed.go; spec platform.md "analyzed.toml").
// Written by the analyzer, updated by the detector (run-image switch) and the restorer (digest
// references, target), read by the extender and the exporter.

export interface ImageIdentifier {
  /** A digest reference `repo@sha256:…`, a daemon image ID, or a layout identifier `<path>@sha256:…`. */
  reference: string;
}

export interface OsDistro {
  name: string;
  version: string;
}

export interface TargetMetadata {
  id?: string;
  os: string;
  arch: string;
  archVariant?: string;
  distro?: OsDistro;
}

export interface RunImage {
  reference: string;
  /** The name the platform or an extension chose (may be a mirror). Omitted when empty. */
  image?: string;
  /** true ⇒ run.Dockerfiles must be applied. Omitted when false. */
  extend?: boolean;
  target?: TargetMetadata;
}

export interface Analyzed {
  /** `[image]`: the previous app image, if it exists. */
  previousImage?: ImageIdentifier;
  /** `[build-image]`: recorded by the restorer for build-image extension. */
  buildImage?: ImageIdentifier;
  /** `[run-image]`. */
  runImage?: RunImage;
  /** `[metadata]` (previous image layers metadata), kept as parsed: only the exporter interprets it. */
  metadata?: TomlTable;
  /**
   * The whole file as parsed. writeAnalyzed starts from it, so keys we do not model (and keys
   * added by newer lifecycles) survive a read → modify → write round trip.
   */
  raw: TomlTable;
}

/** An empty analyzed.toml (what a missing file reads as). */
export function emptyAnalyzed(): Analyzed {
  return { raw: {} };
}

/**
 * Reads analyzed.toml. Like the lifecycle, a missing file is not an error: it reads as empty and a
 * warning `No analyzed metadata found at path "<path>"` is logged. Bad TOML, or a key of the wrong
 * type, is a CnbError naming the file and the key.
 */
export async function readAnalyzed(path: string, log?: Logger): Promise<Analyzed> {
  const table = await readTomlFile(path);
  if (table === null) {
    log?.warn(`No analyzed metadata found at path "${path}"`);
    return emptyAnalyzed();
  }
  return parseAnalyzed(table, path);
}

/** Interprets a parsed analyzed.toml; `path` names the file in errors. */
export function parseAnalyzed(table: TomlTable, path: string): Analyzed {
  const r = new TomlReader(path, table);
  const out: Analyzed = { raw: table };
  const prev = r.optTable('image');
  if (prev) out.previousImage = { reference: prev.optString('reference') ?? '' };
  const build = r.optTable('build-image');
  if (build) out.buildImage = { reference: build.optString('reference') ?? '' };
  const metadata = r.optTable('metadata');
  if (metadata) out.metadata = metadata.table;
  const run = r.optTable('run-image');
  if (run) {
    const ri: RunImage = { reference: run.optString('reference') ?? '' };
    const image = run.optString('image');
    if (image !== undefined && image !== '') ri.image = image;
    const extend = run.optBool('extend');
    if (extend) ri.extend = true;
    const target = run.optTable('target');
    if (target) ri.target = parseTarget(target);
    out.runImage = ri;
  }
  return out;
}

function parseTarget(t: TomlReader): TargetMetadata {
  const out: TargetMetadata = { os: t.optString('os') ?? '', arch: t.optString('arch') ?? '' };
  const id = t.optString('id');
  if (id) out.id = id;
  const variant = t.optString('arch-variant');
  if (variant) out.archVariant = variant;
  const distro = t.optTable('distro');
  if (distro) out.distro = { name: distro.optString('name') ?? '', version: distro.optString('version') ?? '' };
  return out;
}

/**
 * The TOML table for an Analyzed value: `raw` with the modelled keys replaced. Empty optional
 * fields are omitted the way the lifecycle's `omitempty` tags omit them.
 */
export function analyzedToToml(a: Analyzed): TomlTable {
  const out = structuredClone(a.raw);
  setOrDelete(out, 'image', a.previousImage && { ...tableOf(out.image), reference: a.previousImage.reference });
  setOrDelete(out, 'build-image', a.buildImage && { ...tableOf(out['build-image']), reference: a.buildImage.reference });
  setOrDelete(out, 'metadata', a.metadata && structuredClone(a.metadata));
  if (a.runImage) {
    const ri = a.runImage;
    const t: TomlTable = { ...tableOf(out['run-image']), reference: ri.reference };
    setOrDelete(t, 'image', ri.image ? ri.image : undefined);
    setOrDelete(t, 'extend', ri.extend ? true : undefined);
    setOrDelete(t, 'target', ri.target && targetToToml(ri.target, tableOf(t.target)));
    out['run-image'] = t;
  } else {
    delete out['run-image'];
  }
  return out;
}

function targetToToml(t: TargetMetadata, base: TomlTable): TomlTable {
  const out: TomlTable = { ...base, os: t.os, arch: t.arch };
  setOrDelete(out, 'id', t.id ? t.id : undefined);
  setOrDelete(out, 'arch-variant', t.archVariant ? t.archVariant : undefined);
  setOrDelete(out, 'distro', t.distro && { ...tableOf(base.distro), name: t.distro.name, version: t.distro.version });
  return out;
}

/** Writes analyzed.toml atomically (temp file beside it, fsync, rename), keeping unknown keys of `raw`. */
export async function writeAnalyzed(path: string, a: Analyzed): Promise<void> {
  await writeTomlFileAtomic(path, analyzedToToml(a));
}

function tableOf(v: unknown): TomlTable {
  return isTable(v) ? v : {};
}

function setOrDelete(t: TomlTable, k: string, v: unknown): void {
  if (v === undefined) delete t[k];
  else t[k] = v;
}
