import { sha256 } from './digest.js';
import { OciError } from './errors.js';
import type { Image, Layer } from './image.js';
import { isManifestMediaType, layerMediaTypeFor, MediaType } from './media-types.js';
import { parseConfig, parseManifest, serialise } from './parse.js';
import { hostPlatform } from './platform.js';
import type { ConfigFile, ContainerConfig, Descriptor, History, Manifest, Platform } from './types.js';

/** A layer to append, with the history entry that describes it. */
export interface Addendum {
  layer: Layer;
  history?: History;
}

export interface FromPartsOptions {
  /** Media type from the descriptor that pointed at the manifest; used when the manifest omits its own. */
  mediaType?: string;
  /** Check the config's size against the manifest (default true); only lifecycle output with fake sizes needs this off. */
  verifySizes?: boolean;
}

/**
 * An image from its raw manifest and config and its layers. Checks that they belong together:
 * the config matches the manifest's config descriptor, and layer i matches manifest.layers[i]
 * and config.rootfs.diff_ids[i]. The raw bytes are kept as they are (digests survive).
 */
export function fromParts(rawManifest: Buffer, rawConfig: Buffer, layers: readonly Layer[], opts: FromPartsOptions = {}): Image {
  const digest = sha256(rawManifest);
  const manifest = parseManifest(rawManifest, digest);
  const config = parseConfig(rawConfig, manifest.config.digest);
  const configDigest = sha256(rawConfig);
  if (configDigest !== manifest.config.digest) {
    throw new OciError('DIGEST_MISMATCH', `image ${digest}: config digest ${configDigest} does not match the manifest's ${manifest.config.digest}`, { digest: manifest.config.digest });
  }
  if ((opts.verifySizes ?? true) && manifest.config.size !== rawConfig.length) {
    throw new OciError('SIZE_MISMATCH', `image ${digest}: config is ${rawConfig.length} bytes, the manifest says ${manifest.config.size}`, { digest: manifest.config.digest });
  }
  const diffIDs = config.rootfs.diff_ids;
  if (layers.length !== manifest.layers.length || layers.length !== diffIDs.length) {
    throw new OciError('INVALID_JSON', `image ${digest}: ${manifest.layers.length} layers in the manifest, ${diffIDs.length} diff_ids in the config, ${layers.length} layers given`, { digest });
  }
  layers.forEach((l, i) => {
    if (l.descriptor.digest !== manifest.layers[i]!.digest) {
      throw new OciError('INVALID_JSON', `image ${digest}: layer ${i} is ${l.descriptor.digest}, the manifest lists ${manifest.layers[i]!.digest}`, { digest: l.descriptor.digest });
    }
    if (l.diffID !== diffIDs[i]) {
      throw new OciError('INVALID_JSON', `image ${digest}: layer ${i} has diffID ${l.diffID}, the config lists ${diffIDs[i]}`, { digest: l.descriptor.digest });
    }
  });
  const manifestMediaType = manifest.mediaType ?? opts.mediaType ?? MediaType.OciManifest;
  if (!isManifestMediaType(manifestMediaType)) {
    throw new OciError('UNSUPPORTED_MEDIA_TYPE', `image ${digest}: ${JSON.stringify(manifestMediaType)} is not an image manifest media type`, { digest });
  }
  return Object.freeze({
    rawManifest,
    manifest: deepFreeze(manifest),
    manifestMediaType,
    digest,
    rawConfig,
    config: deepFreeze(config),
    layers: Object.freeze([...layers]),
  });
}

/** FROM scratch: no layers, an empty container config, the given (default: host) platform. */
export function emptyImage(platform?: Pick<Platform, 'os' | 'architecture' | 'variant'>): Image {
  const p = platform ?? hostPlatform();
  const config: ConfigFile = {
    architecture: p.architecture,
    os: p.os,
    ...(p.variant !== undefined ? { variant: p.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
  };
  const rawConfig = serialise(config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
    layers: [],
  };
  return fromParts(serialise(manifest), rawConfig, []);
}

/** Appends layers (manifest.layers, rootfs.diff_ids, and one history entry each). */
export function appendLayers(img: Image, ...adds: Addendum[]): Image {
  if (adds.length === 0) return img;
  const config = cloneConfig(img);
  const keepHistory = config.history !== undefined || adds.some((a) => a.history !== undefined);
  const layers = adds.map((a) => retype(a.layer, img.manifestMediaType));
  for (const a of adds) {
    if (a.history?.empty_layer === true) {
      throw new OciError('INVALID_JSON', `append layer ${a.layer.descriptor.digest}: its history entry says empty_layer (use appendHistory for those)`, { digest: a.layer.descriptor.digest });
    }
    config.rootfs.diff_ids.push(a.layer.diffID);
    if (keepHistory) (config.history ??= []).push(a.history !== undefined ? structuredClone(a.history) : {});
  }
  return rebuild(img, config, layers);
}

/** Appends a history entry without a layer (normally `empty_layer: true`, as for ENV or LABEL). */
export function appendHistory(img: Image, h: History): Image {
  const config = cloneConfig(img);
  (config.history ??= []).push(structuredClone(h));
  return rebuild(img, config, []);
}

/** Edits the config file. rootfs.diff_ids must stay as they are: layers change through appendLayers. */
export function withConfigFile(img: Image, f: (c: ConfigFile) => ConfigFile): Image {
  const config = f(cloneConfig(img));
  const before = img.config.rootfs.diff_ids;
  const after = config.rootfs?.diff_ids;
  if (!Array.isArray(after) || after.length !== before.length || after.some((d, i) => d !== before[i])) {
    throw new OciError('INVALID_JSON', `image ${img.digest}: withConfigFile must not change rootfs.diff_ids (layers change through appendLayers)`, { digest: img.digest });
  }
  return rebuild(img, config, []);
}

/** Edits the `config` object (Env, User, Labels, …) of the config file. */
export function withContainerConfig(img: Image, f: (c: ContainerConfig) => ContainerConfig): Image {
  const config = cloneConfig(img);
  config.config = f(config.config ?? {});
  return rebuild(img, config, []);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Sets the config's `created` (an RFC 3339 string; lifecycle uses the zero time `0001-01-01T00:00:00Z`). */
export function withCreated(img: Image, created: string): Image {
  if (!RFC3339.test(created)) {
    throw new OciError('INVALID_JSON', `withCreated: ${JSON.stringify(created)} is not an RFC 3339 date-time`, { digest: img.digest });
  }
  const config = cloneConfig(img);
  config.created = created;
  return rebuild(img, config, []);
}

/** New raw config and manifest, each serialised once; the manifest gains the appended layers. */
function rebuild(img: Image, config: ConfigFile, appended: Layer[]): Image {
  const rawConfig = serialise(config);
  const manifest = structuredClone(img.manifest) as Manifest;
  manifest.config = { ...manifest.config, digest: sha256(rawConfig), size: rawConfig.length };
  for (const l of appended) manifest.layers.push({ ...l.descriptor });
  return fromParts(serialise(manifest), rawConfig, [...img.layers, ...appended], { mediaType: img.manifestMediaType });
}

/**
 * A layer as it must be listed in a manifest of the given media type: Docker schema2 manifests
 * take Docker layer types, OCI manifests OCI ones. Only the plain tar and gzip types are
 * translated; anything else (zstd, foreign, non-distributable) is listed as it is.
 */
function retype(l: Layer, manifestMediaType: string): Layer {
  const mt = l.descriptor.mediaType;
  if (mt !== MediaType.OciLayer && mt !== MediaType.OciLayerGzip && mt !== MediaType.DockerLayerGzip) return l;
  const want = layerMediaTypeFor(mt === MediaType.OciLayer ? 'none' : 'gzip', manifestMediaType);
  if (want === mt) return l;
  const descriptor: Descriptor = Object.freeze({ ...l.descriptor, mediaType: want });
  return Object.freeze({
    descriptor,
    diffID: l.diffID,
    compression: l.compression,
    open: () => l.open(),
    openUncompressed: () => l.openUncompressed(),
  });
}

function cloneConfig(img: Image): ConfigFile {
  return structuredClone(img.config) as ConfigFile;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
