import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic, writeNewFile } from './atomic-file.js';
import { DirBlobStore, isNotFound, DEFAULT_MAX_JSON_BYTES, type BlobStore } from './blob-store.js';
import { isDigest, type Digest } from './digest.js';
import { isOciError, OciError } from './errors.js';
import type { Image, Layer } from './image.js';
import { storedLayer } from './layer.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';
import { fromParts } from './mutate.js';
import { parseConfig, parseIndex, parseManifest, serialise } from './parse.js';
import { formatPlatform, hostPlatform, platformMatches } from './platform.js';
import { Annotation, type Descriptor, type Index, type Platform } from './types.js';

export const LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
const LAYOUT_VERSION = '1.0.0';
/** Nested indexes deeper than this are refused (a loop or a hostile layout). */
const MAX_INDEX_DEPTH = 4;

export interface OpenLayoutOptions {
  /**
   * Check descriptor sizes on every read (default true). Digests are always checked. Only
   * lifecycle extender output, whose descriptors carry fake sizes (contract.md §5.1), needs false.
   */
  verifySizes?: boolean;
}

export interface ImageSelector {
  digest?: Digest;
  /** The `org.opencontainers.image.ref.name` annotation in index.json. */
  tag?: string;
  /** Platform chosen from nested indexes (default: the host's). */
  platform?: Platform;
}

export interface WriteImageOptions {
  /** Sets `org.opencontainers.image.ref.name`; another image holding the tag loses it. */
  tag?: string;
  /** Which layer blobs to write (default all); manifest and config are always written. */
  layers?: 'all' | 'none' | ((l: Layer, i: number) => boolean);
  /** index.json then lists only this image (what the lifecycle's sparse layouts look like). */
  replaceIndex?: boolean;
  /**
   * Stores whose blob files this layout may share instead of copying them: a hard link on one
   * filesystem, else a copy-on-write clone where the filesystem makes one, else the ordinary
   * copy (read and verified). Only for stores whose blobs are written once (temp file + rename,
   * as DirBlobStore and every layout of ours write them) and never opened for writing in place:
   * a hard link shares the inode, so an in-place write to one name would change the other, and
   * nothing of ours ever writes one. Their content is trusted as this layout's own: a shared
   * blob is not read here (that is the point: O(1) in its size), only its size is checked; its
   * digest is checked when it is read, as every blob read is.
   */
  linkFrom?: readonly BlobStore[];
}

/** An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`), possibly sparse. */
export class OciLayout {
  readonly dir: string;
  readonly blobs: DirBlobStore;
  private readonly verifySizes: boolean;

  private constructor(dir: string, opts: OpenLayoutOptions) {
    this.dir = dir;
    this.blobs = new DirBlobStore(dir);
    this.verifySizes = opts.verifySizes ?? true;
  }

  /** Opens an existing layout; INVALID_LAYOUT naming the file when `oci-layout` or `index.json` is missing or bad. */
  static async open(dir: string, opts: OpenLayoutOptions = {}): Promise<OciLayout> {
    await checkLayoutFile(dir);
    const layout = new OciLayout(dir, opts);
    await layout.index();
    return layout;
  }

  /**
   * Creates `oci-layout` and an empty `index.json` where they are missing (each atomically), then
   * opens the layout. An existing bad `oci-layout` is reported, not replaced, and nothing is added.
   */
  static async create(dir: string, opts: OpenLayoutOptions = {}): Promise<OciLayout> {
    await mkdir(dir, { recursive: true });
    await createIfAbsent(join(dir, LAYOUT_FILE), serialise({ imageLayoutVersion: LAYOUT_VERSION }));
    await checkLayoutFile(dir);
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await createIfAbsent(join(dir, INDEX_FILE), serialise(emptyIndex()));
    return OciLayout.open(dir, opts);
  }

  /** index.json, read afresh. */
  async index(): Promise<Index> {
    const p = join(this.dir, INDEX_FILE);
    let raw: Buffer;
    try {
      raw = await readFile(p);
    } catch (e) {
      const why = isNotFound(e) ? 'missing (an OCI layout must have an index.json)' : (e as Error).message;
      throw new OciError('INVALID_LAYOUT', `${p}: ${why}`, { path: p }, { cause: e });
    }
    if (raw.length > DEFAULT_MAX_JSON_BYTES) throw new OciError('TOO_LARGE', `${p}: ${raw.length} bytes, more than ${DEFAULT_MAX_JSON_BYTES}`, { path: p });
    try {
      return parseIndex(raw, p);
    } catch (e) {
      throw new OciError('INVALID_LAYOUT', (e as Error).message, { path: p }, { cause: e });
    }
  }

  /**
   * One image of the layout: by digest, by tag, or the only one. A nested index resolves to the
   * manifest for `sel.platform` (default: the host's). IMAGE_NOT_FOUND / AMBIGUOUS_IMAGE when the
   * selection does not name exactly one image.
   */
  async image(sel: ImageSelector = {}): Promise<Image> {
    const index = await this.index();
    const platform = sel.platform ?? hostPlatform();
    let candidates = index.manifests;
    if (sel.digest !== undefined) {
      if (!isDigest(sel.digest)) throw new OciError('INVALID_DIGEST', `invalid digest ${JSON.stringify(sel.digest)}`, { digest: sel.digest });
      candidates = candidates.filter((d) => d.digest === sel.digest);
      if (candidates.length === 0 && sel.tag === undefined) {
        const nested = await this.findNested(index, sel.digest, 0);
        if (nested !== undefined) candidates = [nested];
      }
    }
    if (sel.tag !== undefined) candidates = candidates.filter((d) => d.annotations?.[Annotation.RefName] === sel.tag);
    const distinct = [...new Map(candidates.map((d) => [d.digest, d])).values()];
    if (distinct.length === 0) {
      const what = [sel.tag !== undefined ? `tag ${JSON.stringify(sel.tag)}` : '', sel.digest ?? ''].filter(Boolean).join(' ') || 'image';
      throw new OciError('IMAGE_NOT_FOUND', `no ${what} in ${this.dir} (it has: ${describeIndex(index)})`, { path: this.dir, ...(sel.digest ? { digest: sel.digest } : {}) });
    }
    if (distinct.length > 1) {
      throw new OciError('AMBIGUOUS_IMAGE', `${this.dir} holds ${distinct.length} images (${describeIndex({ ...index, manifests: distinct })}): select one by tag or digest`, { path: this.dir });
    }
    return this.resolve(distinct[0]!, platform, 0);
  }

  /**
   * Writes an image: layer blobs first (those the filter selects; others are left out, making a
   * sparse layout), then config and manifest, and index.json last (temp + rename), so a reader
   * never sees an index entry whose manifest or config is missing.
   */
  async writeImage(img: Image, opts: WriteImageOptions = {}): Promise<Descriptor> {
    if (opts.tag !== undefined) checkTag(opts.tag);
    const filter = opts.layers ?? 'all';
    const selected = img.layers.filter((l, i) => (filter === 'all' ? true : filter === 'none' ? false : filter(l, i)));
    const shared = { count: 0 };
    await eachLimited(selected, 2, (l) => this.putLayer(l, opts.linkFrom ?? [], shared));
    // Linked blobs are new names in blobs/sha256: make them as durable as the copied ones before
    // index.json can point at them.
    if (shared.count > 0) await syncDir(join(this.dir, 'blobs', 'sha256'));
    await this.blobs.put(img.rawConfig, { digest: img.manifest.config.digest });
    await this.blobs.put(img.rawManifest, { digest: img.digest });

    const desc: Descriptor = { mediaType: img.manifestMediaType, digest: img.digest, size: img.rawManifest.length };
    if (opts.tag !== undefined) desc.annotations = { [Annotation.RefName]: opts.tag };
    const index = opts.replaceIndex ? emptyIndex() : structuredClone(await this.index());
    index.manifests = index.manifests.filter((d) => {
      const tag = d.annotations?.[Annotation.RefName];
      if (opts.tag !== undefined) return tag !== opts.tag;
      return !(tag === undefined && d.digest === desc.digest);
    });
    index.manifests.push(desc);
    await writeFileAtomic(join(this.dir, INDEX_FILE), serialise(index));
    return desc;
  }

  private async putLayer(l: Layer, linkFrom: readonly BlobStore[], shared: { count: number }): Promise<void> {
    const d = l.descriptor;
    const st = await this.blobs.stat(d.digest);
    if (st !== null && (!this.verifySizes || st.size === d.size)) return;
    if (st === null) {
      for (const from of linkFrom) {
        if (await this.shareBlob(from, d)) {
          shared.count++;
          return;
        }
      }
    }
    await this.blobs.put(await l.open(), this.verifySizes ? { digest: d.digest, size: d.size } : { digest: d.digest });
  }

  /**
   * Puts `from`'s file for `d` into this layout without copying its bytes: link(2), else (another
   * filesystem, links refused) a reflink clone. False when `from` lacks it, has it with another
   * size, or neither works; the caller then copies it the ordinary, verifying way.
   */
  private async shareBlob(from: BlobStore, d: Descriptor): Promise<boolean> {
    const src = from.path(d.digest);
    const target = this.blobs.path(d.digest);
    if (src === target) return false;
    const st = await stat(src).catch(() => null);
    if (st === null || !st.isFile() || (this.verifySizes && st.size !== d.size)) return false;
    try {
      await link(src, target); // the name appears complete or not at all
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return (await this.blobs.stat(d.digest)) !== null; // a concurrent writer put it
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') return false;
    }
    // A clone shares extents, not the inode: later writes to either file stay apart.
    const tmp = this.blobs.tempPath();
    try {
      await copyFile(src, tmp, fsConstants.COPYFILE_FICLONE_FORCE);
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.blobs.putFile(tmp, d.digest);
      return true;
    } catch {
      await rm(tmp, { force: true });
      return false;
    }
  }

  private async readJsonBlob(d: Descriptor): Promise<Buffer> {
    return this.blobs.read(d.digest, this.verifySizes ? { size: d.size } : {});
  }

  private async resolve(desc: Descriptor, platform: Platform, depth: number): Promise<Image> {
    const raw = await this.readJsonBlob(desc);
    if (isIndexMediaType(desc.mediaType) || (!isManifestMediaType(desc.mediaType) && looksLikeIndex(raw))) {
      if (depth >= MAX_INDEX_DEPTH) throw new OciError('INVALID_LAYOUT', `${this.dir}: indexes nested more than ${MAX_INDEX_DEPTH} deep at ${desc.digest}`, { path: this.dir, digest: desc.digest });
      const nested = parseIndex(raw, `${desc.digest} in ${this.dir}`, { digest: desc.digest, path: this.dir });
      const match = nested.manifests.find((m) => platformMatches(m.platform, platform));
      if (match === undefined) {
        const have = nested.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'no platform')).join(', ');
        throw new OciError('IMAGE_NOT_FOUND', `index ${desc.digest} in ${this.dir} has no image for ${formatPlatform(platform)} (it has: ${have || 'nothing'})`, { path: this.dir, digest: desc.digest });
      }
      return this.resolve(match, platform, depth + 1);
    }
    const manifest = parseManifest(raw, desc.digest);
    const rawConfig = await this.readJsonBlob(manifest.config);
    const diffIDs = parseConfig(rawConfig, manifest.config.digest).rootfs.diff_ids;
    if (diffIDs.length !== manifest.layers.length) {
      throw new OciError('INVALID_LAYOUT', `${this.dir}: image ${desc.digest} lists ${manifest.layers.length} layers but its config ${diffIDs.length} diff_ids`, { path: this.dir, digest: desc.digest });
    }
    const layers = manifest.layers.map((d, i) => storedLayer(this.blobs, d, diffIDs[i]!, { sparse: true, verifySize: this.verifySizes }));
    return fromParts(raw, rawConfig, layers, { mediaType: desc.mediaType, verifySizes: this.verifySizes });
  }

  /** A descriptor for `digest` inside a nested index (a platform manifest asked for by digest). */
  private async findNested(index: Index, digest: Digest, depth: number): Promise<Descriptor | undefined> {
    if (depth >= MAX_INDEX_DEPTH) return undefined;
    for (const d of index.manifests) {
      if (!isIndexMediaType(d.mediaType)) continue;
      let nested: Index;
      try {
        nested = parseIndex(await this.readJsonBlob(d), `${d.digest} in ${this.dir}`, { digest: d.digest, path: this.dir });
      } catch (e) {
        if (isOciError(e, 'BLOB_NOT_FOUND')) continue;
        throw e;
      }
      const hit = nested.manifests.find((m) => m.digest === digest) ?? (await this.findNested(nested, digest, depth + 1));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

/** `oci-layout` must exist and name a 1.x layout version. */
async function checkLayoutFile(dir: string): Promise<void> {
  const layoutPath = join(dir, LAYOUT_FILE);
  let raw: Buffer;
  try {
    raw = await readFile(layoutPath);
  } catch (e) {
    const why = isNotFound(e) ? 'no oci-layout file: not an OCI image layout' : (e as Error).message;
    throw new OciError('INVALID_LAYOUT', `${layoutPath}: ${why}`, { path: layoutPath }, { cause: e });
  }
  let version: unknown;
  try {
    version = (JSON.parse(raw.toString('utf8')) as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  } catch (e) {
    throw new OciError('INVALID_LAYOUT', `${layoutPath}: not JSON: ${(e as Error).message}`, { path: layoutPath }, { cause: e });
  }
  if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) {
    throw new OciError('INVALID_LAYOUT', `${layoutPath}: unsupported imageLayoutVersion ${JSON.stringify(version)} (expected ${LAYOUT_VERSION})`, { path: layoutPath });
  }
}

function emptyIndex(): Index {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

function looksLikeIndex(raw: Buffer): boolean {
  try {
    const v = JSON.parse(raw.toString('utf8')) as { manifests?: unknown; layers?: unknown };
    return Array.isArray(v.manifests) && v.layers === undefined;
  } catch {
    return false;
  }
}

function describeIndex(index: Index): string {
  if (index.manifests.length === 0) return 'no images';
  return index.manifests.map((d) => {
    const tag = d.annotations?.[Annotation.RefName];
    return tag !== undefined ? `${tag} (${d.digest})` : d.digest;
  }).join(', ');
}

// The image-spec's grammar for org.opencontainers.image.ref.name.
const COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

function checkTag(tag: string): void {
  if (!REF_NAME_RE.test(tag)) {
    throw new OciError('INVALID_REFERENCE', `invalid tag ${JSON.stringify(tag)}: not an org.opencontainers.image.ref.name`, { reference: tag });
  }
}

/**
 * Parses `<dir>`, `<dir>:<tag>` or `<dir>@sha256:<hex>`. The tag follows the last colon of the last
 * path component (so `/a:b/c` is a directory), and a last component that is a whole digest is a
 * directory name, as the lifecycle names them (`…/run/sha256:<hex>:tag` works too).
 */
export function parseLayoutRef(s: string): { dir: string; digest?: Digest; tag?: string } {
  const at = s.lastIndexOf('@');
  if (at > 0 && s.slice(at + 1).startsWith('sha256:')) {
    const digest = s.slice(at + 1);
    if (!isDigest(digest)) throw new OciError('INVALID_REFERENCE', `layout reference ${JSON.stringify(s)}: invalid digest ${JSON.stringify(digest)}`, { reference: s });
    return { dir: s.slice(0, at), digest };
  }
  const last = s.slice(s.lastIndexOf('/') + 1);
  // Lifecycle names layout directories after digests (`<extended>/run/sha256:<hex>`, `/kaniko/cache/base/sha256:<hex>`).
  const colon = isDigest(last) || !last.includes(':') ? -1 : s.lastIndexOf(':');
  if (colon > 0) {
    const tag = s.slice(colon + 1);
    if (!REF_NAME_RE.test(tag)) throw new OciError('INVALID_REFERENCE', `layout reference ${JSON.stringify(s)}: invalid tag ${JSON.stringify(tag)}`, { reference: s });
    return { dir: s.slice(0, colon), tag };
  }
  if (s === '') throw new OciError('INVALID_REFERENCE', 'empty layout reference', { reference: s });
  return { dir: s };
}

/** Creates a file with these contents unless it exists; never replaces one (link(2) is atomic and exclusive). */
async function createIfAbsent(target: string, data: Buffer): Promise<void> {
  const tmp = `${target}.tmp-${randomBytes(8).toString('hex')}`;
  try {
    await writeNewFile(tmp, data);
    await link(tmp, target).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    await syncDir(join(target, '..'));
  } catch (e) {
    throw new OciError('IO', `create ${target}: ${(e as Error).message}`, { path: target }, { cause: e });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Runs `f` over items with at most `limit` at once; the first failure rejects (after the others settle). */
async function eachLimited<T>(items: readonly T[], limit: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await f(items[next++]!);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
