// Small images built in memory for registry tests: real gzip layers (tar from test/helpers/tar.ts),
// a config and a manifest serialised once, so digests are those of the bytes held.
import { Readable } from 'node:stream';
import { gzipSync, gunzipSync } from 'node:zlib';
import type { Digest, Image, Layer, Manifest, ConfigFile, Descriptor, Platform } from '../../../oci/index.js';
import { MediaType, sha256 } from '../../../oci/index.js';
import { tarFrom } from '../../helpers/tar.js';

export interface MemoryImage extends Image {
  /** Every blob of the image (config and layers) by digest. */
  blobs: Map<string, Buffer>;
  platform: Platform;
}

function memLayer(gz: Buffer, mediaType: string): Layer {
  const descriptor: Descriptor = { mediaType, digest: sha256(gz), size: gz.length };
  return {
    descriptor,
    diffID: sha256(gunzipSync(gz)),
    compression: 'gzip',
    open: async () => Readable.from([gz]),
    openUncompressed: async () => Readable.from([gunzipSync(gz)]),
  };
}

/**
 * An image whose layers hold the given files (one record per layer). `docker: true` gives Docker
 * schema2 media types. `pad` adds a file of that many pseudo-random bytes to the last layer (so a
 * blob is big enough for resume and chunking tests; random bytes do not compress).
 */
export function memoryImage(opts: { layers: Record<string, string>[]; platform?: Platform; docker?: boolean; pad?: number; label?: string }): MemoryImage {
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const docker = opts.docker ?? false;
  const gzs: Buffer[] = [];
  const layers = opts.layers.map((files, i) => {
    const entries: { name: string; content: string | Buffer }[] = Object.entries(files).map(([name, content]) => ({ name, content }));
    if (opts.pad && i === opts.layers.length - 1) entries.push({ name: 'pad.bin', content: pseudoRandom(opts.pad, opts.label ?? 'pad') });
    const gz = gzipSync(tarFrom(entries));
    gzs.push(gz);
    return memLayer(gz, docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip);
  });
  const config: ConfigFile = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: '2023-11-14T22:13:20Z',
    config: { Env: ['PATH=/bin'], Labels: { 'test.label': opts.label ?? 'x' } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((_, i) => ({ created: '2023-11-14T22:13:20Z', created_by: `layer ${i}` })),
  };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
    layers: layers.map((l) => l.descriptor),
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  const blobs = new Map<string, Buffer>([[manifest.config.digest, rawConfig]]);
  for (const gz of gzs) blobs.set(sha256(gz), gz);
  return {
    rawManifest,
    manifest,
    manifestMediaType: manifest.mediaType!,
    digest: sha256(rawManifest),
    rawConfig,
    config,
    layers,
    blobs,
    platform,
  };
}

/** Deterministic incompressible bytes. */
export function pseudoRandom(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let x = 0;
  for (const c of seed) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  x = x || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Layer blobs of an image, read through open(). */
export async function layerBytes(img: Image): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const l of img.layers) {
    const chunks: Buffer[] = [];
    for await (const c of await l.open()) chunks.push(c as Buffer);
    m.set(l.descriptor.digest, Buffer.concat(chunks));
  }
  return m;
}

/** An OCI index over images, each entry carrying its image's platform. */
export function indexOf(images: MemoryImage[], mediaType: string = MediaType.OciIndex): { raw: Buffer; digest: Digest; mediaType: string } {
  const docker = mediaType === MediaType.DockerManifestList;
  const raw = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType,
    manifests: images.map((i) => ({
      mediaType: docker ? MediaType.DockerManifest : i.manifestMediaType,
      digest: i.digest,
      size: i.rawManifest.length,
      platform: { architecture: i.platform.architecture, os: i.platform.os, ...(i.platform.variant ? { variant: i.platform.variant } : {}) },
    })),
  }));
  return { raw, digest: sha256(raw), mediaType };
}
