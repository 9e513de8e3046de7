import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressStream } from '../compress.js';
import type { Digest } from '../digest.js';
import { OciError } from '../errors.js';
import type { Image, Layer } from '../image.js';
import { layerCompression, type Compression } from '../media-types.js';
import type { ConfigFile, Descriptor, Manifest } from '../types.js';
import type { Reference } from './reference.js';

/** Opens a blob of the image's repository as a verified stream. */
export type BlobOpener = (desc: Descriptor) => Readable;

/** A layer of a registry image: open() streams the blob from the registry, verified. */
export class RemoteLayer implements Layer {
  readonly compression: Compression;
  constructor(
    readonly descriptor: Descriptor,
    readonly diffID: Digest,
    private readonly opener: BlobOpener,
  ) {
    const c = layerCompression(descriptor.mediaType);
    if (c === undefined) {
      throw new OciError('UNSUPPORTED_MEDIA_TYPE', `layer ${descriptor.digest}: unsupported media type ${descriptor.mediaType}`, { digest: descriptor.digest });
    }
    this.compression = c;
  }

  async open(): Promise<Readable> {
    return this.opener(this.descriptor);
  }

  async openUncompressed(): Promise<Readable> {
    const out = decompressStream(this.compression);
    // pipeline destroys `out` with the error when the download fails, so readers see it.
    pipeline(await this.open(), out).catch(() => {});
    return out;
  }
}

/**
 * An image read from a registry: manifest and config bytes exactly as served (both verified
 * against their digests by the caller), layers streamed on demand.
 */
export class RemoteImage implements Image {
  readonly layers: readonly Layer[];
  constructor(
    /** The repository at this manifest's digest (`name@sha256:…`). */
    readonly reference: Reference,
    readonly rawManifest: Buffer,
    readonly manifest: Manifest,
    readonly manifestMediaType: string,
    readonly digest: Digest,
    readonly rawConfig: Buffer,
    readonly config: ConfigFile,
    opener: BlobOpener,
  ) {
    const diffIDs = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIDs) || diffIDs.length !== manifest.layers.length) {
      throw new OciError(
        'INVALID_JSON',
        `${reference.toString()}: manifest lists ${manifest.layers.length} layers, config rootfs.diff_ids ${Array.isArray(diffIDs) ? diffIDs.length : 'is missing'}`,
        { reference: reference.toString(), digest },
      );
    }
    this.layers = manifest.layers.map((d, i) => new RemoteLayer(d, diffIDs[i]!, opener));
  }
}
