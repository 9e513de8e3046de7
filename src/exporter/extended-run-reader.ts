// Reads `<extended>/run`, the run-image extension output, as leniently as the lifecycle's exporter
// does (lifecycle image/layout_handler.go FromLayoutPath, phase/exporter.go addExtensionLayers):
// one entry of any name (the lifecycle's own fixture is not named after the manifest digest), one
// manifest in index.json, descriptor sizes not trusted (that fixture has fake ones), Docker or OCI
// media types, and the extension layers are exactly the layers whose blobs are present.
// Digests are still verified: a blob that does not hash to its name is an error.
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  MediaType, VerifyingStream, digestHex, isDigest, isIndexMediaType, parseDigest, sha256,
  type ConfigFile, type Descriptor, type Digest, type History, type Manifest,
} from '../../oci/index.js';
import { ExportError } from './errors.js';
import { openLayerTar, retarLayerBlob, type TarCompression } from './retar.js';

/** Manifests and configs are small; anything bigger is not an image we wrote or the lifecycle did. */
const MAX_JSON_BYTES = 4 << 20;

/** One layer of the extended run image, in manifest order. */
export interface ExtendedLayer {
  /** Position in the extended image's manifest (base layers first). */
  readonly index: number;
  /** The manifest's descriptor, as written (its size is not trusted). */
  readonly descriptor: Descriptor;
  /** `rootfs.diff_ids[index]` of the extended config, when present (not verified here). */
  readonly diffID: Digest | undefined;
  /** `blobs/sha256/<hex>` inside the image directory. */
  readonly blobPath: string;
  /** Whether the blob is present: present blobs are the extension layers, absent ones base layers. */
  readonly present: boolean;
}

/** A layer added by extensions (its blob is present). */
export interface ExtensionLayer extends ExtendedLayer {
  readonly present: true;
  /** The index-th non-empty history entry of the extended config (the lifecycle's pairing), or {}. */
  readonly history: History;
  /** `history.created_by` ('' when absent). */
  readonly createdBy: string;
  /** The extension ID from `Layer: '…', Created by extension: <id>`, else `from extensions`. */
  readonly extensionId: string;
  /** The blob's bytes, verified against the digest at EOF (not against the untrusted size). */
  open(): Readable;
  /** The uncompressed tar (gzip detected by sniffing, as the lifecycle does). */
  openTar(): Promise<{ tar: Readable; compression: TarCompression }>;
  /** The tar re-written with the lifecycle's normalisation (contract.md §5.4). */
  openNormalized(): Promise<Readable>;
}

export interface ExtendedRunImage {
  /** The image directory, `<extended>/run/<name>`. */
  readonly dir: string;
  /** The single descriptor of index.json. */
  readonly indexDescriptor: Descriptor;
  readonly manifestDigest: Digest;
  /** OCI or Docker schema2 manifest media type. */
  readonly manifestMediaType: string;
  readonly rawManifest: Buffer;
  readonly manifest: Manifest;
  readonly configDigest: Digest;
  readonly rawConfig: Buffer;
  readonly config: ConfigFile;
  /** Every manifest layer, base layers (blob absent) included. */
  readonly layers: readonly ExtendedLayer[];
  /** The layers whose blobs are present, in manifest order. */
  readonly extensionLayers: readonly ExtensionLayer[];
}

/** `<extended>/run`. */
export function extendedRunDir(extendedDir: string): string {
  return join(extendedDir, 'run');
}

/**
 * Reads the extended run image under `runDir` (`<extended>/run`). Returns null when the directory
 * is missing or empty (no run-image extension happened), like the lifecycle.
 */
export async function readExtendedRunImage(runDir: string): Promise<ExtendedRunImage | null> {
  let names: string[];
  try {
    names = await readdir(runDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ExportError('IO', `cannot read ${runDir}: ${(e as Error).message}`, { path: runDir }, { cause: e });
  }
  if (names.length === 0) return null;
  if (names.length > 1) {
    throw new ExportError('EXTENDED_LAYOUT', `expected directory ${JSON.stringify(runDir)} to have only 1 item; found ${names.length}`, { path: runDir });
  }
  const dir = join(runDir, names[0]!);
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) {
    throw new ExportError('EXTENDED_LAYOUT', `${dir} is not an image layout directory`, { path: dir });
  }
  return readExtendedImageDir(dir);
}

/** Reads one image layout directory with the same leniency (exactly one manifest in index.json). */
export async function readExtendedImageDir(dir: string): Promise<ExtendedRunImage> {
  const indexPath = join(dir, 'index.json');
  const index = parseJson(await readCapped(indexPath), indexPath) as { manifests?: unknown };
  const manifests = Array.isArray(index.manifests) ? (index.manifests as Descriptor[]) : [];
  if (manifests.length !== 1) {
    throw new ExportError('EXTENDED_LAYOUT', `expected image index at ${JSON.stringify(dir)} to have only 1 manifest; found ${manifests.length}`, { path: dir });
  }
  const indexDescriptor = manifests[0]!;
  const manifestDigest = descriptorDigest(indexDescriptor, indexPath);
  const rawManifest = await readBlob(dir, manifestDigest);
  const manifest = parseJson(rawManifest, blobPath(dir, manifestDigest)) as Manifest;
  const manifestMediaType = manifest.mediaType ?? indexDescriptor.mediaType ?? MediaType.OciManifest;
  if (isIndexMediaType(manifestMediaType) || !manifest.config || !Array.isArray(manifest.layers)) {
    throw new ExportError('EXTENDED_LAYOUT', `${blobPath(dir, manifestDigest)} is not an image manifest (media type ${manifestMediaType})`, { path: dir, digest: manifestDigest });
  }
  const configDigest = descriptorDigest(manifest.config, blobPath(dir, manifestDigest));
  const rawConfig = await readBlob(dir, configDigest);
  const config = parseJson(rawConfig, blobPath(dir, configDigest)) as ConfigFile;
  const diffIDs = Array.isArray(config.rootfs?.diff_ids) ? config.rootfs.diff_ids : [];
  const history = historyOf(config, blobPath(dir, configDigest), dir, configDigest);

  const layers: ExtendedLayer[] = [];
  const extensionLayers: ExtensionLayer[] = [];
  for (const [index, descriptor] of manifest.layers.entries()) {
    const digest = descriptorDigest(descriptor, blobPath(dir, manifestDigest));
    const path = blobPath(dir, digest);
    const present = (await stat(path).catch(() => null))?.isFile() ?? false;
    const rawDiffID = diffIDs[index];
    const base = { index, descriptor, diffID: isDigest(rawDiffID) ? rawDiffID : undefined, blobPath: path };
    if (!present) {
      layers.push({ ...base, present: false });
      continue;
    }
    const h = nonEmptyHistoryAt(history, index);
    const createdBy = typeof h.created_by === 'string' ? h.created_by : '';
    const what = `extension layer ${path}`;
    const open = (): Readable => verifiedFileStream(path, digest);
    const layer: ExtensionLayer = {
      ...base,
      present: true,
      history: h,
      createdBy,
      extensionId: parseExtensionId(createdBy),
      open,
      openTar: () => openLayerTar(open(), what),
      openNormalized: () => retarLayerBlob(open(), what),
    };
    layers.push(layer);
    extensionLayers.push(layer);
  }
  return { dir, indexDescriptor, manifestDigest, manifestMediaType, rawManifest, manifest, configDigest, rawConfig, config, layers, extensionLayers };
}

/**
 * The config's history as Go's json reads it into []v1.History: a null entry is an empty one;
 * anything else that is not an object cannot be read (it was a TypeError further on).
 */
function historyOf(config: ConfigFile, where: string, dir: string, digest: string): History[] {
  const raw: unknown = (config as { history?: unknown }).history;
  if (!Array.isArray(raw)) return [];
  return raw.map((h, i) => {
    if (h === null) return {};
    if (typeof h !== 'object' || Array.isArray(h)) {
      throw new ExportError('EXTENDED_LAYOUT', `${where}: history[${i}] is not an object`, { path: dir, digest });
    }
    return h as History;
  });
}

/** The lifecycle's getHistoryForNonEmptyLayerAtIndex: the idx-th entry that is not empty_layer. */
export function nonEmptyHistoryAt(history: readonly History[], idx: number): History {
  let n = 0;
  for (const h of history) {
    if (h.empty_layer) continue;
    if (n === idx) return h;
    n++;
  }
  return {};
}

const EXTENSION_LAYER_RE = /^Layer: '([\s\S]*)', Created by extension: (\S+)$/;

/** The extension ID of an extension layer's `created_by`, or the lifecycle's fallback. */
export function parseExtensionId(createdBy: string): string {
  return EXTENSION_LAYER_RE.exec(createdBy)?.[2] ?? 'from extensions';
}

/** A file's bytes through a digest check (fails at EOF on a mismatch). */
function verifiedFileStream(path: string, digest: Digest): Readable {
  const v = new VerifyingStream({ digest }, path);
  // pipeline destroys v with any error of the file stream; its own promise needs no handling.
  pipeline(createReadStream(path), v).catch(() => undefined);
  return v;
}

function blobPath(dir: string, d: Digest): string {
  return join(dir, 'blobs', 'sha256', digestHex(d));
}

function descriptorDigest(desc: Descriptor, where: string): Digest {
  try {
    return parseDigest(String(desc?.digest), 'descriptor digest');
  } catch (e) {
    throw new ExportError('EXTENDED_LAYOUT', `${where}: ${(e as Error).message}`, { path: where }, { cause: e });
  }
}

async function readCapped(path: string): Promise<Buffer> {
  let b: Buffer;
  try {
    const st = await stat(path);
    if (st.size > MAX_JSON_BYTES) throw new ExportError('EXTENDED_LAYOUT', `${path} is larger than ${MAX_JSON_BYTES} bytes`, { path });
    b = await readFile(path);
  } catch (e) {
    if (e instanceof ExportError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExportError(code === 'ENOENT' ? 'EXTENDED_LAYOUT' : 'IO', `cannot read ${path}: ${(e as Error).message}`, { path }, { cause: e });
  }
  return b;
}

/** A manifest or config blob, verified against its digest (sizes are not trusted). */
async function readBlob(dir: string, d: Digest): Promise<Buffer> {
  const path = blobPath(dir, d);
  const b = await readCapped(path);
  const got = sha256(b);
  if (got !== d) throw new ExportError('EXTENDED_LAYOUT', `${path}: content digest ${got} does not match ${d}`, { path, digest: d });
  return b;
}

function parseJson(b: Buffer, path: string): unknown {
  try {
    const v: unknown = JSON.parse(b.toString('utf8'));
    if (v === null || typeof v !== 'object') throw new Error('not a JSON object');
    return v;
  } catch (e) {
    throw new ExportError('EXTENDED_LAYOUT', `${path}: invalid JSON: ${(e as Error).message}`, { path }, { cause: e });
  }
}
