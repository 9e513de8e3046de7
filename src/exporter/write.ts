// Writing the composed image: an OCI layout, full (every blob: usable offline) or sparse (no
// run-image base-layer blobs, like the lifecycle's and pack's sparse layouts), or a registry push.
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  OciLayout, VerifyingStream, decompressStream, removeDeadTempSiblings, tempSiblingName,
  type BlobStore, type Descriptor, type Digest, type Image, type Layer, type Reference, type Registry,
} from '../../oci/index.js';
import { silentLogger, type Logger } from '../log.js';
import { ExportError } from './errors.js';

/** Where base-layer blobs missing from a sparse run-image layout can be read (e.g. its registry). */
export interface BaseBlobSource {
  /** Named in messages, e.g. the registry reference (never with credentials). */
  readonly description: string;
  open(desc: Descriptor): Promise<Readable>;
}

/** A BaseBlobSource over another image holding the same layers (a registry image, another layout). */
export function imageBlobSource(img: Image, description: string): BaseBlobSource {
  return {
    description,
    async open(desc) {
      const l = img.layers.find((x) => x.descriptor.digest === desc.digest);
      if (!l) throw new ExportError('MISSING_BLOBS', `${description} has no layer ${desc.digest}`, { digest: desc.digest });
      return l.open();
    },
  };
}

/** The output layout directory: written in place when it exists, else built beside it and renamed. */
export interface LayoutTarget {
  readonly dir: string;
  readonly layout: OciLayout;
  /** Where new blobs should go (the layout's own store, so nothing is copied twice). */
  readonly store: BlobStore;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export async function prepareLayoutTarget(dir: string): Promise<LayoutTarget> {
  const st = await stat(dir).catch(() => null);
  let emptyDir = false;
  if (st) {
    if (!st.isDirectory()) throw new ExportError('INPUT', `${dir} exists and is not a directory`, { path: dir });
    const names = await readdir(dir);
    if (names.includes('oci-layout')) {
      // Blobs are content-addressed and each appears atomically; index.json is replaced last.
      const layout = await OciLayout.create(dir);
      return { dir, layout, store: layout.blobs, commit: async () => {}, abort: async () => {} };
    }
    if (names.length > 0) throw new ExportError('INPUT', `${dir} exists and is not an OCI image layout`, { path: dir });
    emptyDir = true;
  }
  // A new layout is built beside its final place and renamed there when complete; the stamped
  // name lets the next export remove it if we are killed (what killed exports left goes first).
  await removeDeadTempSiblings(dir);
  const temp = tempSiblingName(dir, randomBytes(6).toString('hex'));
  const layout = await OciLayout.create(temp);
  return {
    dir,
    layout,
    store: layout.blobs,
    async commit() {
      try {
        if (emptyDir) await rmdir(dir);
        await rename(temp, dir);
      } catch (e) {
        throw new ExportError('IO', `cannot move the new layout into ${dir}: ${(e as Error).message}`, { path: dir }, { cause: e });
      }
    },
    abort: () => rm(temp, { recursive: true, force: true }),
  };
}

export interface WriteLayoutOptions {
  /** full: every blob; sparse: no blobs of the first `baseLayerCount` layers. */
  mode: 'full' | 'sparse';
  baseLayerCount: number;
  tag?: string;
  /** index.json lists only this image (the lifecycle's per-image layouts). */
  replaceIndex?: boolean;
  /** The run image's layout store, when it came from a layout (to tell which base blobs it lacks). */
  baseStore?: BlobStore;
  /** Where to read base blobs the run-image layout lacks (full mode). */
  baseBlobs?: BaseBlobSource;
  log?: Logger;
}

/**
 * Writes `image` into the layout (blobs, then manifest and config, index.json last). In full mode
 * every base blob must be obtainable: from the run-image layout, or through `baseBlobs`; otherwise
 * MISSING_BLOBS lists the digests and where they were expected, before anything is written.
 */
export async function writeLayoutImage(target: LayoutTarget, image: Image, o: WriteLayoutOptions): Promise<Descriptor> {
  const img = o.mode === 'full'
    ? await withBaseBlobs(image, { ...o, have: (d) => target.store.has(d), required: true, where: target.dir })
    : image;
  return target.layout.writeImage(img, {
    layers: o.mode === 'full' ? 'all' : (_l, i) => i >= o.baseLayerCount,
    ...(o.tag !== undefined ? { tag: o.tag } : {}),
    ...(o.replaceIndex ? { replaceIndex: true } : {}),
  });
}

/**
 * The image with its base layers readable: those the run-image layout (`baseStore`) lacks read
 * from `baseBlobs`. When `required` and there is no source, MISSING_BLOBS lists the digests and
 * where they were expected.
 */
export async function withBaseBlobs(image: Image, o: {
  baseLayerCount: number; baseStore?: BlobStore; baseBlobs?: BaseBlobSource; log?: Logger;
  have?: (d: Digest) => Promise<boolean>; required: boolean; where: string;
}): Promise<Image> {
  const log = o.log ?? silentLogger;
  if (!o.baseStore) return image; // a registry image reads its own blobs
  const missing: Layer[] = [];
  for (const l of image.layers.slice(0, o.baseLayerCount)) {
    const d = l.descriptor.digest;
    if (o.have && (await o.have(d))) continue;
    if (!(await o.baseStore.has(d))) missing.push(l);
  }
  if (missing.length === 0) return image;
  const src = o.baseBlobs;
  if (!src) {
    if (!o.required) return image;
    const where = join(o.baseStore.root, 'blobs', 'sha256');
    throw new ExportError(
      'MISSING_BLOBS',
      `cannot write a full layout to ${o.where}: the run image is a sparse layout and ${missing.length} base layer blob(s) are not in ${where}: ` +
        `${missing.map((l) => l.descriptor.digest).join(', ')}; give a registry to fetch them from, or write a sparse layout`,
      { path: where, digest: missing[0]!.descriptor.digest },
    );
  }
  log.info(`Fetching ${missing.length} base layer blob(s) missing from the run image layout from ${src.description}`);
  const set = new Set<Digest>(missing.map((l) => l.descriptor.digest));
  return { ...image, layers: image.layers.map((l) => (set.has(l.descriptor.digest) ? fromSource(l, src) : l)) };
}

/** A layer whose bytes come from another source, verified against the descriptor. */
function fromSource(l: Layer, src: BaseBlobSource): Layer {
  const open = async (): Promise<Readable> => {
    const v = new VerifyingStream({ digest: l.descriptor.digest, size: l.descriptor.size }, `${l.descriptor.digest} from ${src.description}`);
    pipeline(await src.open(l.descriptor), v).catch(() => undefined); // errors reach the reader through v
    return v;
  };
  return {
    descriptor: l.descriptor,
    diffID: l.diffID,
    compression: l.compression,
    open,
    async openUncompressed() {
      const d = decompressStream(l.compression);
      pipeline(await open(), d).catch(() => undefined);
      return d;
    },
  };
}

/**
 * Pushes the image: blobs the registry already has are skipped, base layers are mounted from the
 * run image's repository when on the same registry, then the manifest.
 */
export async function pushImage(registry: Registry, ref: Reference | string, image: Image, o: { mountFrom?: readonly string[]; signal?: AbortSignal } = {}): Promise<Descriptor> {
  return registry.write(ref, image, { ...(o.mountFrom ? { mountFrom: o.mountFrom } : {}), ...(o.signal ? { signal: o.signal } : {}) });
}
