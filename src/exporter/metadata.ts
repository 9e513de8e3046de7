// The `io.buildpacks.lifecycle.metadata` label (lifecycle platform/files/layers_metadata.go) and the
// run image recorded in it (lifecycle platform/run_image.go GetRunImageForExport).
import { Reference } from '../../oci/index.js';
import type { RunToml } from '../cnb/index.js';

export const LIFECYCLE_METADATA_LABEL = 'io.buildpacks.lifecycle.metadata';

export interface MetadataRunImage {
  image?: string;
  mirrors?: string[];
}

/** The label's content, in the lifecycle's field order. */
export interface LifecycleMetadata {
  app: { sha: string }[] | null;
  sbom?: { sha: string };
  buildpacks: unknown[] | null;
  config: { sha: string };
  launcher: { sha: string };
  'process-types': { sha: string };
  runImage: { topLayer: string; reference: string } & MetadataRunImage;
  stack?: { runImage: MetadataRunImage };
}

/**
 * The lifecycle's name comparison (internal/name ParseMaybe): the digest is dropped, Docker Hub
 * names are normalised and `:latest` is added; an unparsable name is compared as written.
 */
export function parseMaybe(ref: string): string {
  const toParse = ref.includes('@sha256:') ? ref.split('@')[0]! : ref;
  try {
    const r = Reference.parse(toParse);
    return `${r.name}:${r.tag ?? 'latest'}`;
  } catch {
    return ref;
  }
}

/**
 * GetRunImageForExport (Platform ≥ 0.12): the first run.toml entry whose image or a mirror is
 * `analyzedImage` (`run-image.image`); else `{image}` alone when extensions ran (they may have
 * switched the run image); else the first entry; `{}` when run.toml lists nothing.
 */
export function selectRunImageForExport(runToml: RunToml, analyzedImage: string, extensionsUsed: boolean): MetadataRunImage {
  if (runToml.images.length === 0) return {};
  const want = parseMaybe(analyzedImage);
  for (const ri of runToml.images) {
    if (parseMaybe(ri.image) === want || ri.mirrors.some((m) => parseMaybe(m) === want)) {
      return { image: ri.image, ...(ri.mirrors.length > 0 ? { mirrors: [...ri.mirrors] } : {}) };
    }
  }
  if (extensionsUsed) return analyzedImage === '' ? {} : { image: analyzedImage };
  const first = runToml.images[0]!;
  return { image: first.image, ...(first.mirrors.length > 0 ? { mirrors: [...first.mirrors] } : {}) };
}

/** The metadata the exporter writes, as far as this exporter knows it (no buildpack layers). */
export function lifecycleMetadata(o: {
  topLayer: string;
  reference: string;
  runImageForExport: MetadataRunImage;
  /** Platform ≥ 0.12 records image and mirrors in runImage too. */
  recordRunImage: boolean;
  appLayerDiffIDs: readonly string[];
}): LifecycleMetadata {
  const rie = cleanRunImage(o.runImageForExport);
  return {
    app: o.appLayerDiffIDs.length > 0 ? o.appLayerDiffIDs.map((sha) => ({ sha })) : null,
    buildpacks: null,
    config: { sha: '' },
    launcher: { sha: '' },
    'process-types': { sha: '' },
    runImage: { topLayer: o.topLayer, reference: o.reference, ...(o.recordRunImage ? rie : {}) },
    stack: { runImage: rie },
  };
}

function cleanRunImage(r: MetadataRunImage): MetadataRunImage {
  return {
    ...(r.image ? { image: r.image } : {}),
    ...(r.mirrors && r.mirrors.length > 0 ? { mirrors: [...r.mirrors] } : {}),
  };
}

/** JSON as Go's encoding/json writes it (HTML-sensitive characters escaped), for label values. */
export function goJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
