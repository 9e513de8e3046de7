import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DirBlobStore, OciLayout, parseLayoutRef, type Image } from '../../oci/index.js';
import { chooseSnapshotter, LayerCache, type SnapshotterName } from '../../snapshot/index.js';
import { buildImage, loadExtensionDockerfile, type BuildResult, type BuildStepReport } from '../build/index.js';
import { ChrootExecutor } from '../executor/index.js';
import { streamLogger, type Logger, type LogLevel } from '../log.js';
import { FlagSet } from './flags.js';
import { exitCodeFor, formatError } from './exit-codes.js';
import type { CliIO, Command, Env } from './io.js';
import { formatBytes, formatDuration } from './format.js';

/** Where `apply` keeps extracted base layers between runs unless told otherwise. */
export function defaultCacheDir(env: Env): string {
  return env.CNBX_CACHE_DIR ?? '/var/tmp/cnb-extender-cache';
}

export interface ApplyRequest {
  base: string;
  dockerfile: string;
  context?: string;
  buildArgs: Array<[string, string]>;
  output: string;
  sparse: boolean;
  snapshotter: 'auto' | SnapshotterName;
  kind: 'build' | 'run';
  cacheDir: string;
  sourceDateEpoch?: number;
}

export interface ApplyOutcome {
  result: BuildResult;
  base: Image;
  outputDir: string;
  tag: string | undefined;
  warnings: string[];
  snapshotter: SnapshotterName;
}

/**
 * The `apply` job as a library function: validate the Dockerfile, build on the base layout, write
 * the output layout. Nothing is written to the output unless the whole build succeeded; a new
 * output directory appears atomically (built under a temporary name, then renamed).
 */
export async function runApply(req: ApplyRequest, log: Logger, io: { onOutput?: (line: string) => void; onStep?: (r: BuildStepReport) => void; signal?: AbortSignal } = {}): Promise<ApplyOutcome> {
  const dockerfilePath = resolve(req.dockerfile);
  const text = await readFile(dockerfilePath, 'utf8');
  const loaded = loadExtensionDockerfile(text, req.dockerfile, req.kind);
  for (const w of loaded.warnings) log.warn(w);

  const baseRef = parseLayoutRef(req.base);
  const baseLayout = await OciLayout.open(baseRef.dir);
  const base = await baseLayout.image({ ...(baseRef.digest ? { digest: baseRef.digest } : {}), ...(baseRef.tag ? { tag: baseRef.tag } : {}) });

  const cache = new LayerCache(join(req.cacheDir, 'layers'));
  const snapshotter = await chooseSnapshotter(req.snapshotter, cache, log, join(req.cacheDir, 'probe'));
  await mkdir(join(req.cacheDir, 'work'), { recursive: true });
  const workDir = join(req.cacheDir, 'work', `apply-${randomBytes(6).toString('hex')}`);
  await mkdir(workDir);
  try {
    const store = new DirBlobStore(join(workDir, 'blobs'));
    const result = await buildImage(base, loaded.dockerfile, {
      snapshotter,
      workDir: join(workDir, 'ws'),
      executor: new ChrootExecutor({ log }),
      store,
      contextDir: resolve(req.context ?? dirname(dockerfilePath)),
      dockerfilePath,
      buildArgs: req.buildArgs,
      log,
      ...(req.sourceDateEpoch !== undefined ? { sourceDateEpoch: req.sourceDateEpoch } : {}),
      ...(io.onOutput ? { onOutput: (line: string) => io.onOutput!(line) } : {}),
      ...(io.onStep ? { onStep: io.onStep } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    const outRef = parseLayoutRef(req.output);
    const baseCount = base.layers.length;
    const layers = req.sparse ? (_l: unknown, i: number) => i >= baseCount : 'all';
    const ownBlob = (i: number) => (i < baseCount ? null : store.path(result.image.layers[i]!.descriptor.digest));
    await writeOutputLayout(outRef.dir, result.image, { ...(outRef.tag ? { tag: outRef.tag } : {}), layers, ownBlob });
    return { result, base, outputDir: outRef.dir, tag: outRef.tag, warnings: loaded.warnings, snapshotter: snapshotter.name };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Writes an image to a layout. A new layout is built beside the target and renamed into place; an
 * existing one gets its blobs first and its index.json last (atomically), so a failure leaves it
 * as it was apart from unreferenced blobs.
 */
async function writeOutputLayout(dir: string, image: Image, opts: { tag?: string; layers: 'all' | ((l: unknown, i: number) => boolean); ownBlob: OwnBlobPath }): Promise<void> {
  const write = { ...(opts.tag !== undefined ? { tag: opts.tag } : {}), layers: opts.layers };
  if (existsSync(dir)) {
    const layout = await OciLayout.open(dir);
    await moveNewLayerBlobs(layout, image, opts.layers, opts.ownBlob);
    await layout.writeImage(image, write);
    return;
  }
  await mkdir(dirname(resolve(dir)), { recursive: true });
  const tmp = `${resolve(dir)}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    const layout = await OciLayout.create(tmp);
    await moveNewLayerBlobs(layout, image, opts.layers, opts.ownBlob);
    await layout.writeImage(image, write);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Moves the blobs of the layers this build made from the build's own store into the output layout
 * (a rename when both are on one filesystem): they were written, digest-checked and synced moments
 * ago, and the store is deleted with the work dir anyway. Letting writeImage copy them instead
 * reads, hashes and writes every byte again: seconds for a 200 MB layer. Whatever cannot be
 * renamed (another filesystem) is left to writeImage, which copies and verifies it as before.
 * Base layers are left to writeImage too: sharing their inodes with the base layout (hard links)
 * would make a full output O(1) in the base's size, but an in-place write to either layout would
 * then change both.
 */
async function moveNewLayerBlobs(layout: OciLayout, image: Image, layers: 'all' | ((l: unknown, i: number) => boolean), ownBlob: OwnBlobPath): Promise<void> {
  let moved = 0;
  for (const [i, l] of image.layers.entries()) {
    if (layers !== 'all' && !layers(l, i)) continue;
    const src = ownBlob(i);
    if (src === null) continue;
    const target = layout.blobs.path(l.descriptor.digest);
    if (existsSync(target)) continue;
    try {
      if ((await stat(src)).size !== l.descriptor.size) continue;
      await rename(src, target); // atomic: the name appears complete or not at all
      moved++;
    } catch {
      // Another filesystem (EXDEV) or gone: writeImage copies it.
    }
  }
  if (moved > 0) {
    // The new names must survive a crash as surely as the blobs writeImage writes.
    const fh = await open(dirname(layout.blobs.path(image.layers[0]!.descriptor.digest)), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** The path of layer i's blob in this build's own store, or null for a base layer. */
type OwnBlobPath = (i: number) => string | null;

const USAGE_EXAMPLES = `
Examples:
  cnb-extender apply -base /layouts/run:latest -dockerfile ext/run.Dockerfile -kind run \\
      -build-arg user_id=1000 -output /layouts/run-extended:latest
  cnb-extender apply -base busybox-layout -dockerfile Dockerfile -output out -sparse
`;

export const applyCommand: Command = {
  name: 'apply',
  summary: 'apply one extension Dockerfile to an image in an OCI layout',
  async run(argv: string[], env: Env, io: CliIO): Promise<number> {
    const fs = new FlagSet('cnb-extender apply');
    const base = fs.string('base', '', 'base image: <layout dir>[@sha256:<hex>|:<tag>] (required)');
    const dockerfile = fs.string('dockerfile', '', 'the extension Dockerfile to apply (required)');
    const context = fs.string('context', '', 'build context for COPY/ADD (default: the Dockerfile\'s directory)');
    const buildArgs = fs.stringList('build-arg', 'NAME=VALUE for an ARG (repeatable)');
    const output = fs.string('output', '', 'output layout: <dir>[:<tag>] (required)');
    const sparse = fs.bool('sparse', false, 'write only the new layer blobs (plus manifest and config)');
    const snap = fs.string('snapshotter', 'auto', 'auto, overlay or scan');
    const kind = fs.string('kind', 'build', 'validate as a build or run extension Dockerfile');
    const cacheDir = fs.string('cache-dir', defaultCacheDir(env), 'where extracted base layers are kept between runs');
    const logLevel = fs.string('log-level', 'info', 'debug, info, warn or error');
    const parsed = fs.parse(argv);
    if (parsed.kind === 'help') {
      io.stdout.write(`Apply a CNB image-extension Dockerfile to an image.\n\n${fs.usage()}${USAGE_EXAMPLES}`);
      return 0;
    }
    const usageError = (msg: string) => {
      io.stderr.write(`cnb-extender apply: ${msg}\n\n${fs.usage()}`);
      return 2;
    };
    if (parsed.kind === 'error') return usageError(parsed.message);
    if (parsed.args.length > 0) return usageError(`unexpected arguments: ${parsed.args.join(' ')}`);
    for (const [name, v] of [['base', base], ['dockerfile', dockerfile], ['output', output]] as const) {
      if (v.value === '') return usageError(`-${name} is required`);
    }
    if (!['auto', 'overlay', 'scan'].includes(snap.value)) return usageError(`-snapshotter must be auto, overlay or scan, not ${JSON.stringify(snap.value)}`);
    if (kind.value !== 'build' && kind.value !== 'run') return usageError(`-kind must be build or run, not ${JSON.stringify(kind.value)}`);
    if (!['debug', 'info', 'warn', 'error'].includes(logLevel.value)) return usageError(`-log-level must be debug, info, warn or error`);
    const args: Array<[string, string]> = [];
    for (const a of buildArgs.value) {
      const eq = a.indexOf('=');
      if (eq <= 0) return usageError(`-build-arg ${JSON.stringify(a)}: expected NAME=VALUE`);
      args.push([a.slice(0, eq), a.slice(eq + 1)]);
    }
    const level = logLevel.value as LogLevel;
    const log = streamLogger(io.stderr, level);
    const sde = env.SOURCE_DATE_EPOCH !== undefined && /^\d+$/.test(env.SOURCE_DATE_EPOCH) ? Number(env.SOURCE_DATE_EPOCH) : undefined;
    const started = performance.now();
    try {
      const out = await runApply(
        {
          base: base.value,
          dockerfile: dockerfile.value,
          ...(context.value ? { context: context.value } : {}),
          buildArgs: args,
          output: output.value,
          sparse: sparse.value,
          snapshotter: snap.value as 'auto' | SnapshotterName,
          kind: kind.value,
          cacheDir: cacheDir.value,
          ...(sde !== undefined ? { sourceDateEpoch: sde } : {}),
        },
        log,
        {
          onOutput: (line) => {
            if (level === 'debug' || level === 'info') io.stderr.write(`  │ ${line}\n`);
          },
          onStep: (r) => log.info(stepLine(r)),
        },
      );
      const digest = (await (await OciLayout.open(out.outputDir)).image(out.tag ? { tag: out.tag } : {})).digest;
      const sizes = out.result.newLayers.reduce((n, l) => n + l.descriptor.size, 0);
      io.stdout.write(
        `${out.outputDir}${out.tag ? `:${out.tag}` : ''} ${digest}\n` +
          `  ${out.result.steps.length} steps, ${out.result.newLayers.length} new layer${out.result.newLayers.length === 1 ? '' : 's'} (${formatBytes(sizes)}), ` +
          `${out.snapshotter} snapshotter, ${formatDuration(performance.now() - started)}${sparse.value ? ', sparse' : ''}\n`,
      );
      return 0;
    } catch (e) {
      io.stderr.write(`${formatError(e, level === 'debug')}\n`);
      return exitCodeFor(e);
    }
  },
};

function stepLine(r: BuildStepReport): string {
  const layer = r.layer ? ` → layer ${r.layer.digest.slice(7, 19)} ${formatBytes(r.layer.size)}` : '';
  const cache = r.cache === 'hit' ? ' (cached)' : '';
  return `line ${r.line}: ${r.instruction}${cache}${layer} [${formatDuration(r.durationMs)}]`;
}

export type { CliIO };
