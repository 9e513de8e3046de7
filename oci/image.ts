import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';
import type { Compression } from './media-types.js';
import type { ConfigFile, Descriptor, Manifest } from './types.js';

/**
 * One layer of an image. `descriptor.digest` is always the digest of the bytes as stored
 * (compressed), `diffID` the digest of the uncompressed tar (ggcr's naming).
 */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffID: Digest;
  readonly compression: Compression;
  /** A fresh stream of the stored (compressed) bytes, verified for digest and size at EOF. */
  open(): Promise<Readable>;
  /** A fresh stream of the uncompressed tar (decompressed from open()). */
  openUncompressed(): Promise<Readable>;
}

/**
 * An image value. Manifest and config are kept as the raw bytes they were read from (so digests
 * survive) together with their parsed form. Images are immutable: oci/mutate returns new ones.
 */
export interface Image {
  readonly rawManifest: Buffer;
  readonly manifest: Manifest;
  /** Media type of the manifest (OCI or Docker schema2). */
  readonly manifestMediaType: string;
  /** sha256 of rawManifest. */
  readonly digest: Digest;
  readonly rawConfig: Buffer;
  readonly config: ConfigFile;
  /** Layers, base layer first; layers[i] pairs manifest.layers[i] with config.rootfs.diff_ids[i]. */
  readonly layers: readonly Layer[];
}
