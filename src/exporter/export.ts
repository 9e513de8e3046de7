// exportImage: the exporter's library entry. Reads the lifecycle inputs (analyzed.toml, run.toml,
// <extended>/run), resolves the original run image (a layout identifier `<dir>@sha256:…` on disk,
// or a registry reference), composes the app image and writes it as a full or sparse OCI layout,
// or pushes it.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  OciLayout, Reference, parseLayoutRef,
  type BlobStore, type Descriptor, type Image, type Registry,
} from '../../oci/index.js';
import { apiAtLeast, parseApiVersion, readAnalyzed, readRunToml } from '../cnb/index.js';
import { silentLogger, type Logger } from '../log.js';
import { composeAppImage, type AppLayerInput, type ComposeResult } from './compose.js';
import { ExportError } from './errors.js';
import { checkRunExtensionExperimental } from './experimental.js';
import { extendedRunDir, readExtendedRunImage } from './extended-run-reader.js';
import { selectRunImageForExport, type MetadataRunImage } from './metadata.js';
import { imageBlobSource, prepareLayoutTarget, pushImage, withBaseBlobs, writeLayoutImage, type BaseBlobSource } from './write.js';

export type ExportOutput =
  | { kind: 'layout'; dir: string; sparse?: boolean; tag?: string; replaceIndex?: boolean }
  | { kind: 'registry'; reference: string };

export interface ExportImageOptions {
  platformApi: string;
  analyzedPath: string;
  /** `<extended>`; default `<layers>/extended` (Platform ≥ 0.12; extension is ignored below). */
  extendedDir?: string;
  /** run.toml (Platform ≥ 0.12); default `/cnb/run.toml`. */
  runPath?: string;
  layersDir: string;
  appDir: string;
  appLayers?: readonly AppLayerInput[];
  output: ExportOutput;
  /** Registry client: for a registry run image, for base blobs a sparse run-image layout lacks, and for pushing. */
  registry?: Registry;
  /** Overrides where missing base blobs come from (default: the run image in `registry`). */
  baseBlobs?: BaseBlobSource;
  /** The run image, when the caller has it already (then `runImageReference` names it). */
  runImage?: { image: Image; reference: string; store?: BlobStore };
  /** Whether extensions ran (lifecycle: metadata.toml lists extensions); default: `<extended>/run` holds an image. */
  extensionsUsed?: boolean;
  labels?: Readonly<Record<string, string>>;
  entrypoint?: string[];
  cmd?: string[] | null;
  /** Scratch space for a push (new layer blobs); default `<layers>/.cnbx-export`, removed afterwards. */
  workDir?: string;
  /** SOURCE_DATE_EPOCH and CNB_EXPERIMENTAL_MODE are read from here (never from process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  log?: Logger;
  signal?: AbortSignal;
}

export interface ExportImageResult {
  descriptor: Descriptor;
  image: Image;
  compose: ComposeResult;
  /** The layout directory or the registry reference written. */
  output: string;
}

/** Is this analyzed reference a layout identifier (`<path>@sha256:…`) rather than a registry reference? */
export function isLayoutIdentifier(ref: string): boolean {
  return ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../');
}

export async function exportImage(o: ExportImageOptions): Promise<ExportImageResult> {
  const log = o.log ?? silentLogger;
  const env = o.env ?? {};
  const api = parseApiVersion(o.platformApi);
  if (!api) throw new ExportError('INPUT', `invalid Platform API ${JSON.stringify(o.platformApi)}`);
  const atLeast12 = apiAtLeast(api, '0.12');
  const extendedDir = atLeast12 ? (o.extendedDir ?? join(o.layersDir, 'extended')) : undefined;

  await checkRunExtensionExperimental({ platformApi: o.platformApi, extendedDir, env, log });

  const analyzed = await readAnalyzed(o.analyzedPath, log);
  const extended = extendedDir ? await readExtendedRunImage(extendedRunDir(extendedDir)) : null;

  const run = o.runImage ?? (await openRunImage(analyzed.runImage?.reference ?? '', o.registry, log));
  let runImageForExport: MetadataRunImage = {};
  if (atLeast12) {
    const runToml = await readRunToml(o.runPath ?? '/cnb/run.toml');
    runImageForExport = selectRunImageForExport(runToml, analyzed.runImage?.image ?? '', o.extensionsUsed ?? extended !== null);
  }
  const sourceDateEpoch = parseSourceDateEpoch(env.SOURCE_DATE_EPOCH, log);

  if (o.output.kind === 'registry') {
    const registry = o.registry;
    if (!registry) throw new ExportError('INPUT', `pushing to ${o.output.reference} needs a registry client`);
    const workDir = o.workDir ?? join(o.layersDir, '.cnbx-export');
    const work = await OciLayout.create(workDir);
    try {
      const compose = await composeAppImage({ ...composeInputs(o, run, runImageForExport, extended, analyzed.runImage?.extend === true, sourceDateEpoch, log), store: work.blobs });
      const target = Reference.parse(o.output.reference);
      // Base layers: mounted from the run image's repository on the same registry, else uploaded
      // (read from the run-image layout, or from its registry when that layout is sparse).
      const mountFrom = [isLayoutIdentifier(run.reference) ? undefined : run.reference, analyzed.runImage?.image]
        .filter((r): r is string => !!r)
        .map((r) => Reference.parse(r.split('@')[0]!))
        .filter((r) => r.registry === target.registry)
        .map((r) => r.repository);
      const baseBlobs = o.baseBlobs ?? (analyzed.runImage?.image ? lazyRegistrySource(registry, analyzed.runImage.image, run.image.digest) : undefined);
      const image = await withBaseBlobs(compose.image, {
        baseLayerCount: compose.baseLayerCount, required: false, where: o.output.reference, log,
        ...(run.store ? { baseStore: run.store } : {}), ...(baseBlobs ? { baseBlobs } : {}),
      });
      const descriptor = await pushImage(registry, target, image, { mountFrom: [...new Set(mountFrom)], ...(o.signal ? { signal: o.signal } : {}) });
      log.info(`*** Digest: ${descriptor.digest}`);
      return { descriptor, image: compose.image, compose, output: o.output.reference };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  const out = o.output;
  const target = await prepareLayoutTarget(out.dir);
  try {
    const compose = await composeAppImage({ ...composeInputs(o, run, runImageForExport, extended, analyzed.runImage?.extend === true, sourceDateEpoch, log), store: target.store });
    const sparse = out.sparse === true;
    let baseBlobs = o.baseBlobs;
    if (!sparse && !baseBlobs && o.registry && analyzed.runImage?.image) {
      baseBlobs = lazyRegistrySource(o.registry, analyzed.runImage.image, run.image.digest);
    }
    const descriptor = await writeLayoutImage(target, compose.image, {
      mode: sparse ? 'sparse' : 'full',
      baseLayerCount: compose.baseLayerCount,
      ...(out.tag !== undefined ? { tag: out.tag } : {}),
      ...(out.replaceIndex ? { replaceIndex: true } : {}),
      ...(run.store ? { baseStore: run.store } : {}),
      ...(baseBlobs ? { baseBlobs } : {}),
      log,
    });
    await target.commit();
    log.info(`Saving ${out.dir}...`);
    log.info(`*** Digest: ${descriptor.digest}`);
    return { descriptor, image: compose.image, compose, output: out.dir };
  } catch (e) {
    await target.abort();
    throw e;
  }
}

function composeInputs(
  o: ExportImageOptions,
  run: { image: Image; reference: string },
  runImageForExport: MetadataRunImage,
  extended: Awaited<ReturnType<typeof readExtendedRunImage>>,
  extend: boolean,
  sourceDateEpoch: number | undefined,
  log: Logger,
) {
  return {
    platformApi: o.platformApi,
    runImage: run.image,
    runImageReference: run.reference,
    runImageForExport,
    extended,
    extend,
    layersDir: o.layersDir,
    appDir: o.appDir,
    ...(o.appLayers ? { appLayers: o.appLayers } : {}),
    ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
    ...(o.labels ? { labels: o.labels } : {}),
    ...(o.entrypoint ? { entrypoint: o.entrypoint } : {}),
    ...(o.cmd !== undefined ? { cmd: o.cmd } : {}),
    log,
    ...(o.signal ? { signal: o.signal } : {}),
  };
}

/** The original run image from analyzed `run-image.reference`: a layout identifier or a registry reference. */
async function openRunImage(ref: string, registry: Registry | undefined, log: Logger): Promise<{ image: Image; reference: string; store?: BlobStore }> {
  if (ref === '') throw new ExportError('INPUT', 'analyzed.toml has no run-image.reference');
  if (isLayoutIdentifier(ref)) {
    const { dir, digest, tag } = parseLayoutRef(ref);
    const layout = await OciLayout.open(dir);
    const image = await layout.image({ ...(digest ? { digest } : {}), ...(tag ? { tag } : {}) });
    log.debug(`Run image: layout ${dir} (${image.digest})`);
    return { image, reference: `${dir}@${image.digest}`, store: layout.blobs };
  }
  if (!registry) throw new ExportError('INPUT', `run image ${ref} is in a registry: a registry client is needed`);
  const image = await registry.image(ref);
  return { image, reference: `${Reference.parse(ref).name}@${image.digest}` };
}

/** Base blobs from the run image in its registry, resolved on first use. */
function lazyRegistrySource(registry: Registry, runImageName: string, digest: string): BaseBlobSource {
  const ref = `${Reference.parse(runImageName.split('@')[0]!).name}@${digest}`;
  let src: Promise<BaseBlobSource> | undefined;
  return {
    description: ref,
    async open(desc) {
      src ??= registry.image(ref).then((img) => imageBlobSource(img, ref));
      return (await src).open(desc);
    },
  };
}

/** SOURCE_DATE_EPOCH as integer seconds; an invalid value is ignored with the lifecycle's warning. */
export function parseSourceDateEpoch(v: string | undefined, log: Logger): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    log.warn('Ignoring invalid SOURCE_DATE_EPOCH');
    return undefined;
  }
  return Number(v);
}
