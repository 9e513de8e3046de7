// Compares the images two builders produced: final filesystems (type, mode, owner, size, sha256,
// symlink target, device numbers) and configs (User, Env, Cmd, Entrypoint, WorkingDir, Labels,
// ExposedPorts, Volumes, StopSignal, Healthcheck, OnBuild, Shell, author, os/arch). The project's
// own version of ../shared/tools/compare-layouts.sh: umoci unpacks the layers (an oracle
// independent of our snapshot code); xattrs, hardlink-ness, mtimes and history are not compared.
//
// Speed: a differential test extends the same base many times, and a full `umoci raw unpack` of
// the Debian fixture takes ~10 s. So the base is unpacked once (BaseTree), and each image's layers
// *above the base* are unpacked by umoci onto an overlayfs whose lower dir is that base tree. The
// final listing is the base listing with the overlay's upper dir applied (whiteouts delete,
// opaque or non-directory entries replace subtrees, everything else re-read from the merged view).
// An image whose first diffIDs are not the base's is refused (the comparison would be wrong).
//
// Sources: an OCI layout (index.json, a tag selects the manifest; layer blobs of the base may be
// absent: sparse) or a containers/image `dir:` directory (what `buildah push -D img dir:<d>` writes:
// manifest.json, the config blob, uncompressed layers, each named by its hex digest). Needs root
// (owners, overlay mounts), umoci and getfattr.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, statSync, symlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from './tree.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface FsEntry {
  type: EntryType;
  /** Permission and special bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files only. */
  size?: number;
  sha256?: string;
  link?: string;
  /** `major:minor` of a device. */
  rdev?: string;
}

/** Path (relative, no leading slash; the root itself is not listed) → entry. */
export type FsListing = Map<string, FsEntry>;

/** The config fields a Dockerfile can change (compare-layouts.sh's set plus the Docker-only ones). */
export interface ConfigSummary {
  os?: string;
  architecture?: string;
  author?: string;
  User?: string;
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  StopSignal?: string;
  Healthcheck?: unknown;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
}

export interface ImageSummary {
  source: string;
  diffIDs: string[];
  /** Layers above the base. */
  newLayers: number;
  config: ConfigSummary;
  fs: FsListing;
}

interface LayerRef {
  blobPath: string;
  /** The blob's digest (its file name in both source formats). */
  digest: string;
  compressed: boolean;
  diffID: string;
}

interface RawImage {
  config: Record<string, unknown>;
  diffIDs: string[];
  layers: LayerRef[];
}

const CONFIG_FIELDS = ['User', 'Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell'] as const;

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function hex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`not a sha256 digest: ${digest}`);
  return m[1]!;
}

function isGzip(path: string): boolean {
  if (!existsSync(path)) return false;
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** Reads manifest, config and layer blob paths from an OCI layout (by tag) or a `dir:` directory. */
export function readImage(source: string, tag?: string): RawImage {
  let manifest: Record<string, unknown>;
  let blob: (digest: string) => string;
  if (existsSync(join(source, 'index.json'))) {
    const index = readJson(join(source, 'index.json')) as { manifests?: Array<{ digest: string; annotations?: Record<string, string> }> };
    const all = index.manifests ?? [];
    const picked = tag === undefined ? all : all.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
    if (picked.length !== 1) throw new Error(`${source}: expected one manifest${tag ? ` tagged ${tag}` : ''}, found ${picked.length}`);
    blob = (d) => join(source, 'blobs', 'sha256', hex(d));
    manifest = readJson(blob(picked[0]!.digest));
  } else if (existsSync(join(source, 'manifest.json'))) {
    blob = (d) => join(source, hex(d));
    manifest = readJson(join(source, 'manifest.json'));
  } else {
    throw new Error(`${source}: neither an OCI layout nor a dir: image`);
  }
  const cfgDesc = manifest.config as { digest: string };
  const config = readJson(blob(cfgDesc.digest));
  const diffIDs = ((config.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? []).slice();
  const layerDescs = (manifest.layers as Array<{ digest: string }> | undefined) ?? [];
  if (layerDescs.length !== diffIDs.length) throw new Error(`${source}: ${layerDescs.length} layers but ${diffIDs.length} diff_ids`);
  const layers = layerDescs.map((l, i) => ({ blobPath: blob(l.digest), digest: l.digest, compressed: isGzip(blob(l.digest)), diffID: diffIDs[i]! }));
  return { config, diffIDs, layers };
}

/**
 * The comparable part of an image config. null, absent, "" and empty lists and maps are all
 * "absent" (Docker treats them alike: buildah writes `Cmd: []` where BuildKit writes null).
 */
export function summarizeConfig(config: Record<string, unknown>, opts: { ignoreLabels?: readonly string[] } = {}): ConfigSummary {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['os', 'architecture', 'author'] as const) if (config[k] !== undefined && config[k] !== '') out[k] = config[k];
  for (const k of CONFIG_FIELDS) {
    let v = c[k];
    if (k === 'Labels' && v && typeof v === 'object') {
      v = Object.fromEntries(Object.entries(v as Record<string, string>).filter(([name]) => !(opts.ignoreLabels ?? []).includes(name)));
    }
    if (v === undefined || v === '') continue;
    if (v === null || (Array.isArray(v) && v.length === 0)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out as ConfigSummary;
}

const TYPES: Array<[number, EntryType]> = [
  [0o100000, 'file'], [0o040000, 'dir'], [0o120000, 'symlink'], [0o020000, 'char'],
  [0o060000, 'block'], [0o010000, 'fifo'], [0o140000, 'socket'],
];

/** One path's entry, as the comparison sees it. */
export function statEntry(abs: string): FsEntry {
  const st = lstatSync(abs, { bigint: true }) as BigIntStats;
  const bits = Number(st.mode) & 0o170000;
  const type = TYPES.find(([b]) => b === bits)?.[1];
  if (!type) throw new Error(`${abs}: unknown file type ${bits.toString(8)}`);
  const e: FsEntry = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
  if (type === 'file') {
    e.size = Number(st.size);
    e.sha256 = sha256File(abs);
  } else if (type === 'symlink') {
    e.link = readlinkSync(abs);
  } else if (type === 'char' || type === 'block') {
    const r = st.rdev;
    e.rdev = `${((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)}:${(r & 0xffn) | ((r >> 12n) & ~0xffn)}`;
  }
  return e;
}

/** Lists a whole tree (pre-order; the root is not listed). */
export function listTree(root: string): FsListing {
  const out: FsListing = new Map();
  const walk = (rel: string) => {
    for (const name of readdirSync(rel === '' ? root : join(root, rel)).sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const e = statEntry(join(root, childRel));
      out.set(childRel, e);
      if (e.type === 'dir') walk(childRel);
    }
  };
  walk('');
  return out;
}

function umociUnpack(layoutDir: string, rootfs: string): void {
  try {
    execFileSync('umoci', ['raw', 'unpack', '--image', `${layoutDir}:xt`, rootfs], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new Error(`umoci raw unpack ${layoutDir}: ${err.stderr?.toString() ?? String(e)}`);
  }
}

/**
 * A one-manifest OCI layout (tag `xt`) holding `layers` with a config whose diff_ids are theirs:
 * what umoci needs to unpack exactly these layers. Layer blobs are symlinked, not copied.
 */
function writeView(dir: string, config: Record<string, unknown>, layers: readonly LayerRef[]): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer) => {
    const d = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, d), data);
    return { digest: `sha256:${d}`, size: data.length };
  };
  const cfg = Buffer.from(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) }, history: [] }));
  const layerDescs = layers.map((l) => {
    // umoci verifies every blob against its digest while unpacking.
    if (!existsSync(join(blobs, hex(l.digest)))) symlinkSync(l.blobPath, join(blobs, hex(l.digest)));
    return {
      mediaType: l.compressed ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar',
      digest: l.digest,
      size: statSync(l.blobPath).size,
    };
  });
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(cfg) },
    layers: layerDescs,
  })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'xt' } }],
  }));
}

/** Paths of the overlay upper dir that are opaque directories (trusted.overlay.opaque=y). */
function opaqueDirs(upper: string): Set<string> {
  let text: string;
  try {
    text = execFileSync('getfattr', ['-R', '-h', '-P', '-n', 'trusted.overlay.opaque', '--absolute-names', upper], {
      encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    // Exit 1 when some file lacks the attribute; stdout still lists those that have it.
    text = (e as { stdout?: string }).stdout ?? '';
  }
  const out = new Set<string>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice('# file: '.length);
    else if (current && line.startsWith('trusted.overlay.opaque="y"')) out.add(current.slice(upper.length + 1));
  }
  return out;
}

function deleteSubtree(fs: FsListing, path: string, withSelf: boolean): void {
  if (withSelf) fs.delete(path);
  const prefix = `${path}/`;
  for (const k of [...fs.keys()]) if (k.startsWith(prefix)) fs.delete(k);
}

/** The base image, unpacked once by umoci, with its listing. */
export class BaseTree {
  private constructor(
    readonly rootfs: string,
    readonly diffIDs: readonly string[],
    readonly config: Record<string, unknown>,
    readonly fs: FsListing,
  ) {}

  /** Unpacks `layout` (tag `tag`) into `<workDir>/base-rootfs` and lists it. */
  static open(layout: string, workDir: string, tag = 'latest'): BaseTree {
    const img = readImage(layout, tag);
    const view = join(workDir, 'base-view');
    writeView(view, img.config, img.layers);
    const rootfs = join(workDir, 'base-rootfs');
    umociUnpack(view, rootfs);
    rmSync(view, { recursive: true, force: true });
    return new BaseTree(rootfs, img.diffIDs, img.config, listTree(rootfs));
  }

  /**
   * Describes an image built on this base: its layers above the base are unpacked by umoci onto
   * an overlay of the base tree; the listing is the base's with the changes applied.
   */
  describe(source: string, opts: { tag?: string; workDir: string; ignoreLabels?: readonly string[] }): ImageSummary {
    const img = readImage(source, opts.tag);
    const n = this.diffIDs.length;
    if (img.diffIDs.length < n || this.diffIDs.some((d, i) => img.diffIDs[i] !== d)) {
      throw new Error(`${source}: its first layers are not the base image's (diffIDs ${img.diffIDs.slice(0, n).join(', ')})`);
    }
    const above = img.layers.slice(n);
    const fs: FsListing = new Map(this.fs);
    if (above.length > 0) {
      const work = join(opts.workDir, `describe-${createHash('sha256').update(`${source}:${opts.tag ?? ''}:${Date.now()}:${Math.random()}`).digest('hex').slice(0, 12)}`);
      const [upper, ovlWork, merged, view] = ['upper', 'work', 'merged', 'view'].map((d) => join(work, d)) as [string, string, string, string];
      for (const d of [upper, ovlWork, merged]) mkdirSync(d, { recursive: true });
      writeView(view, img.config, above);
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${this.rootfs},upperdir=${upper},workdir=${ovlWork}`, merged]);
      try {
        umociUnpack(view, merged);
        const opaque = opaqueDirs(upper);
        const walk = (rel: string) => {
          for (const name of readdirSync(rel === '' ? upper : join(upper, rel)).sort()) {
            const childRel = rel === '' ? name : `${rel}/${name}`;
            const up = lstatSync(join(upper, childRel));
            if (up.isCharacterDevice() && up.rdev === 0) {
              deleteSubtree(fs, childRel, true); // whiteout
              continue;
            }
            if (!up.isDirectory() || opaque.has(childRel)) deleteSubtree(fs, childRel, false);
            fs.set(childRel, statEntry(join(merged, childRel)));
            if (up.isDirectory()) walk(childRel);
          }
        };
        walk('');
      } finally {
        execFileSync('umount', [merged]);
        rmSync(work, { recursive: true, force: true });
      }
    }
    return {
      source: opts.tag ? `${source}:${opts.tag}` : source,
      diffIDs: img.diffIDs,
      newLayers: above.length,
      config: summarizeConfig(img.config, opts),
      fs,
    };
  }

  close(): void {
    rmSync(this.rootfs, { recursive: true, force: true });
  }
}

/** A short, stable rendering of an entry for difference messages. */
export function showEntry(e: FsEntry | undefined): string {
  if (!e) return 'absent';
  const parts = [e.type, e.mode.toString(8).padStart(4, '0'), `${e.uid}:${e.gid}`];
  if (e.type === 'file') parts.push(`${e.size}B`, e.sha256!.slice(0, 12));
  if (e.link !== undefined) parts.push(`-> ${e.link}`);
  if (e.rdev !== undefined) parts.push(`dev ${e.rdev}`);
  return parts.join(' ');
}

function sameEntry(a: FsEntry, b: FsEntry): boolean {
  return a.type === b.type && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.size === b.size
    && a.sha256 === b.sha256 && a.link === b.link && a.rdev === b.rdev;
}

export interface CompareOptions {
  /** Paths (and their subtrees) whose changes in B are not B's result: B's entry is taken from `base`. */
  ignoreInB?: RegExp;
  base?: FsListing;
}

/** JSON with object keys sorted (maps such as Labels compare by content, not insertion order). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x);
}

/**
 * The differences between A and B, one stable line each:
 *   `config <Field>: <A json> ≠ <B json>`
 *   `fs <path>: <A entry> ≠ <B entry>` (an entry may be `absent`)
 * Empty when the images are the same.
 */
export function compareSummaries(a: ImageSummary, b: ImageSummary, opts: CompareOptions = {}): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a.config), ...Object.keys(b.config)]);
  for (const k of [...keys].sort()) {
    const va = canonical((a.config as Record<string, unknown>)[k] ?? null);
    const vb = canonical((b.config as Record<string, unknown>)[k] ?? null);
    if (va !== vb) out.push(`config ${k}: ${va} ≠ ${vb}`);
  }
  const bfs = new Map(b.fs);
  if (opts.ignoreInB) {
    for (const p of [...bfs.keys()]) if (opts.ignoreInB.test(p)) bfs.delete(p);
    for (const [p, e] of opts.base ?? []) if (opts.ignoreInB.test(p)) bfs.set(p, e);
  }
  const paths = new Set([...a.fs.keys(), ...bfs.keys()]);
  for (const p of [...paths].sort()) {
    const ea = a.fs.get(p);
    const eb = bfs.get(p);
    if (ea && eb && sameEntry(ea, eb)) continue;
    out.push(`fs ${p}: ${showEntry(ea)} ≠ ${showEntry(eb)}`);
  }
  return out;
}

/** The paths an image changed relative to its base listing (for readable failure output). */
export function changedPaths(img: ImageSummary, base: FsListing): string[] {
  const out: string[] = [];
  const paths = new Set([...img.fs.keys(), ...base.keys()]);
  for (const p of [...paths].sort()) {
    const a = img.fs.get(p);
    const b = base.get(p);
    if (a && b && sameEntry(a, b)) continue;
    out.push(`${p}: ${showEntry(b)} → ${showEntry(a)}`);
  }
  return out;
}
