// Composes the app image the way the lifecycle's exporter does (contract.md §5.3; lifecycle
// phase/exporter.go, cmd/lifecycle/exporter.go): the ORIGINAL run image, its config replaced by the
// extended config's `config` when run-image.extend is true, then the extension layers (re-tarred,
// §5.4) with their history strings, then the app layers; the lifecycle's Env additions, the
// io.buildpacks.lifecycle.metadata label, and every `created` set to SOURCE_DATE_EPOCH or
// 1980-01-01T00:00:01Z. Unlike the lifecycle (LC#1102), the extended config is applied whatever the
// output (layout, registry).
import type { Readable } from 'node:stream';
import {
  MediaType, appendLayers, storeLayer, withConfigFile,
  type Addendum, type BlobStore, type ConfigFile, type ContainerConfig, type Digest, type Image,
} from '../../oci/index.js';
import { apiAtLeast, parseApiVersion, type ApiVersion } from '../cnb/index.js';
import { silentLogger, type Logger } from '../log.js';
import { dirToTar } from './dir-tar.js';
import { ExportError } from './errors.js';
import type { ExtendedRunImage } from './extended-run-reader.js';
import { LIFECYCLE_METADATA_LABEL, goJson, lifecycleMetadata, type LifecycleMetadata, type MetadataRunImage } from './metadata.js';

/** The lifecycle's default for every `created` (imgutil NormalizedDateTime). */
export const NORMALIZED_CREATED = '1980-01-01T00:00:01Z';
export const PROCESS_DIR = '/cnb/process';
export const LIFECYCLE_DIR = '/cnb/lifecycle';

/** An app layer given by the caller: a directory (tarred deterministically) or a tar stream. */
export interface AppLayerInput {
  /** The history entry's `created_by` (e.g. `Application Layer`). */
  createdBy: string;
  /** A directory whose contents become the layer, placed at `target` in the image… */
  dir?: string;
  target?: string;
  uid?: number;
  gid?: number;
  /** …or an uncompressed tar stream. */
  tar?: () => Readable | Promise<Readable>;
}

export interface ComposeOptions {
  platformApi: string;
  /** The original run image (a layout on disk, full or sparse, or a registry image). */
  runImage: Image;
  /** `runImage.reference` of the metadata label: a digest reference, or a layout identifier. */
  runImageReference: string;
  /** `runImage.image`/`mirrors` of the metadata label (see selectRunImageForExport). */
  runImageForExport?: MetadataRunImage;
  /** The image in `<extended>/run` (readExtendedRunImage), if any. */
  extended?: ExtendedRunImage | null;
  /** analyzed.toml `run-image.extend`. */
  extend: boolean;
  appLayers?: readonly AppLayerInput[];
  /** CNB_LAYERS_DIR and CNB_APP_DIR of the image; the app dir is also its WorkingDir. */
  layersDir: string;
  appDir: string;
  /** Unix seconds for every `created` (SOURCE_DATE_EPOCH, Platform ≥ 0.9); default 1980-01-01T00:00:01Z. */
  sourceDateEpoch?: number;
  /** More labels (buildpack-provided ones), set after the metadata label. */
  labels?: Readonly<Record<string, string>>;
  /** Set when given (the lifecycle sets the launcher as entrypoint and an empty Cmd). */
  entrypoint?: string[];
  cmd?: string[] | null;
  /** Where new layer blobs (extension and app layers) are written. */
  store: BlobStore;
  /** Blob compression of new layers (default gzip). */
  compression?: 'gzip' | 'none';
  log?: Logger;
  signal?: AbortSignal;
}

export interface ComposedLayer {
  /** Layer ID as the lifecycle names it in logs (`<ext>:extended-layer-<i>`, or the createdBy). */
  id: string;
  createdBy: string;
  diffID: Digest;
  digest: Digest;
}

export interface ComposeResult {
  image: Image;
  /** The number of run-image layers at the bottom of `image` (never rewritten). */
  baseLayerCount: number;
  /** The original run image's top layer diffID (metadata runImage.topLayer). */
  topLayer: Digest;
  metadata: LifecycleMetadata;
  extensionLayers: ComposedLayer[];
  appLayers: ComposedLayer[];
}

export function createdTime(sourceDateEpoch: number | undefined): string {
  if (sourceDateEpoch === undefined) return NORMALIZED_CREATED;
  return new Date(sourceDateEpoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

function api(v: string): ApiVersion {
  const a = parseApiVersion(v);
  if (!a) throw new ExportError('INPUT', `invalid Platform API ${JSON.stringify(v)}`);
  return a;
}

export async function composeAppImage(o: ComposeOptions): Promise<ComposeResult> {
  const log = o.log ?? silentLogger;
  const platform = api(o.platformApi);
  const compression = o.compression ?? 'gzip';
  const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer;
  const base = o.runImage;
  const topLayer = base.config.rootfs.diff_ids.at(-1);
  if (topLayer === undefined) throw new ExportError('INPUT', 'get run image top layer SHA: the run image has no layers');
  let img = base;

  // The extended config replaces the whole `config` object; rootfs and history stay the run image's.
  if (apiAtLeast(platform, '0.12') && o.extend) {
    if (!o.extended) throw new ExportError('MISSING_EXTENDED', 'get extended image config: missing extended run image');
    const extConfig = structuredClone(o.extended.config.config ?? {}) as ContainerConfig;
    log.debug('Using config from extensions...');
    img = withConfigFile(img, (c) => ({ ...c, config: extConfig }));
  }

  // Extension layers: gated on Platform ≥ 0.12 and an extended image only (not on `extend`).
  const extensionLayers: ComposedLayer[] = [];
  if (apiAtLeast(platform, '0.12') && o.extended) {
    const adds: Addendum[] = [];
    for (const l of o.extended.extensionLayers) {
      const id = `${l.extensionId}:extended-layer-${l.index}`;
      const layer = await storeLayer(await l.openNormalized(), o.store, { compression, mediaType, ...(o.signal ? { signal: o.signal } : {}) });
      log.info(`Adding extension layer ${l.extensionId}`);
      log.debug(`Layer '${id}' SHA: ${layer.diffID}`);
      adds.push({ layer, history: { created_by: l.createdBy } });
      extensionLayers.push({ id, createdBy: l.createdBy, diffID: layer.diffID, digest: layer.descriptor.digest });
    }
    img = appendLayers(img, ...adds);
  }

  const appLayers: ComposedLayer[] = [];
  if (o.appLayers && o.appLayers.length > 0) {
    const adds: Addendum[] = [];
    for (const a of o.appLayers) {
      let tar: Readable;
      if (a.dir !== undefined) {
        tar = dirToTar(a.dir, { ...(a.target !== undefined ? { target: a.target } : {}), ...(a.uid !== undefined ? { uid: a.uid } : {}), ...(a.gid !== undefined ? { gid: a.gid } : {}) });
      } else if (a.tar) {
        tar = await a.tar();
      } else {
        throw new ExportError('INPUT', `app layer ${JSON.stringify(a.createdBy)}: give a directory or a tar stream`);
      }
      const layer = await storeLayer(tar, o.store, { compression, mediaType, ...(o.signal ? { signal: o.signal } : {}) });
      log.info(`Adding layer '${a.createdBy}'`);
      log.debug(`Layer '${a.createdBy}' SHA: ${layer.diffID}`);
      adds.push({ layer, history: { created_by: a.createdBy } });
      appLayers.push({ id: a.createdBy, createdBy: a.createdBy, diffID: layer.diffID, digest: layer.descriptor.digest });
    }
    img = appendLayers(img, ...adds);
  }

  const metadata = lifecycleMetadata({
    topLayer,
    reference: o.runImageReference,
    runImageForExport: o.runImageForExport ?? {},
    recordRunImage: apiAtLeast(platform, '0.12'),
    appLayerDiffIDs: appLayers.map((l) => l.diffID),
  });
  const created = createdTime(apiAtLeast(platform, '0.9') ? o.sourceDateEpoch : undefined);
  const keepHistory = apiAtLeast(platform, '0.12');

  img = withConfigFile(img, (c) => finalizeConfig(c, { ...o, metadata, created, keepHistory, platformApi: o.platformApi }, log));
  return { image: img, baseLayerCount: base.layers.length, topLayer, metadata, extensionLayers, appLayers };
}

function finalizeConfig(
  c: ConfigFile,
  o: Pick<ComposeOptions, 'labels' | 'layersDir' | 'appDir' | 'entrypoint' | 'cmd'> & { metadata: LifecycleMetadata; created: string; keepHistory: boolean; platformApi: string },
  log: Logger,
): ConfigFile {
  const cfg: ContainerConfig = { ...(c.config ?? {}) };
  log.info(`Adding label '${LIFECYCLE_METADATA_LABEL}'`);
  cfg.Labels = { ...(cfg.Labels ?? {}), [LIFECYCLE_METADATA_LABEL]: goJson(o.metadata), ...(o.labels ?? {}) };
  let env = [...(cfg.Env ?? [])];
  env = setEnv(env, 'CNB_LAYERS_DIR', o.layersDir);
  env = setEnv(env, 'CNB_APP_DIR', o.appDir);
  env = setEnv(env, 'CNB_PLATFORM_API', o.platformApi);
  env = setEnv(env, 'CNB_DEPRECATION_MODE', 'quiet');
  env = setEnv(env, 'PATH', [PROCESS_DIR, LIFECYCLE_DIR, getEnv(env, 'PATH')].join(':'));
  cfg.Env = env;
  cfg.WorkingDir = o.appDir;
  if (o.entrypoint !== undefined) cfg.Entrypoint = [...o.entrypoint];
  if (o.cmd !== undefined) {
    if (o.cmd === null || o.cmd.length === 0) delete cfg.Cmd;
    else cfg.Cmd = [...o.cmd];
  }
  const out: ConfigFile = { ...c, config: cfg, created: o.created };
  if (o.keepHistory) out.history = (c.history ?? []).map((h) => ({ ...h, created: o.created }));
  else delete out.history;
  return out;
}

/** imgutil SetEnv: replaces the first `KEY=` entry in place, else appends. */
function setEnv(env: string[], key: string, value: string): string[] {
  const i = env.findIndex((e) => e.split('=')[0] === key);
  if (i >= 0) env[i] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  return env;
}

/** imgutil Env: the value of the first `KEY=` entry, cut at a further '=' as imgutil does; '' if absent. */
function getEnv(env: readonly string[], key: string): string {
  for (const e of env) {
    const parts = e.split('=');
    if (parts[0] === key) return parts[1] ?? '';
  }
  return '';
}
