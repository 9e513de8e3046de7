import { statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { OciLayout, type Descriptor } from '../../oci/index.js';
import type { SnapshotterName } from '../../snapshot/index.js';
import type { BuildStepReport } from '../build/index.js';
import { defaultCacheDir, runApply, type ApplyOutcome } from './apply.js';
import { EXIT_CODES, exitCodeFor, formatError } from './exit-codes.js';
import { FlagSet } from './flags.js';
import { formatBytes, formatDuration, plural } from './format.js';
import { APPLY_HELP, helpText } from './help.js';
import type { CliIO, Command, Env } from './io.js';
import { defineOutputFlags, finishReport, openProgress } from './output-flags.js';
import type { Progress, ProgressLevel } from './progress.js';
import { ReportBuilder } from './report.js';
import { onInterrupt } from './signals.js';

// `cnb-extender apply`: flags, progress, the result summary, the -json report and the exit code
// around runApply (apply.ts), which does the work.

export const applyCommand: Command = {
  name: 'apply',
  summary: 'apply one extension Dockerfile to an image in an OCI layout, write the result as a layout',
  run: runApplyCommand,
};

export async function runApplyCommand(argv: string[], env: Env, io: CliIO): Promise<number> {
  const fs = new FlagSet('cnb-extender apply');
  const base = fs.string('base', '', 'base image: <layout dir>[:<tag>|@sha256:<hex>] (required)');
  const dockerfile = fs.string('dockerfile', '', 'the extension Dockerfile to apply (required)');
  const context = fs.string('context', '', "build context for COPY/ADD (default: the Dockerfile's directory)");
  const buildArgs = fs.stringList('build-arg', 'NAME=VALUE for an ARG (repeatable)');
  const output = fs.string('output', '', 'output layout: <dir>[:<tag>] (required); an existing layout gets the image added');
  const sparse = fs.bool('sparse', false, 'write only the new layer blobs (plus manifest and config)');
  const snap = fs.string('snapshotter', 'auto', 'auto, overlay or scan (auto: overlay where mounts work)');
  const kind = fs.string('kind', 'build', 'validate as a build or run extension Dockerfile');
  const cacheDir = fs.string('cache-dir', defaultCacheDir(env), 'where extracted base layers are kept between runs');
  const logLevel = fs.string('log-level', 'info', 'debug, info, warn or error (debug also prints stack traces)');
  const out = defineOutputFlags(fs, env, 'plain');
  const parsed = fs.parse(argv);
  if (parsed.kind === 'help') {
    io.stdout.write(helpText(APPLY_HELP, fs.usage()));
    return EXIT_CODES.ok;
  }
  const usageError = (msg: string) => {
    io.stderr.write(`cnb-extender apply: ${msg}\nRun 'cnb-extender apply -help' for the flags and examples.\n`);
    return EXIT_CODES.usage;
  };
  if (parsed.kind === 'error') return usageError(parsed.message);
  if (parsed.args.length > 0) return usageError(`unexpected arguments: ${parsed.args.join(' ')} (every input is a flag, e.g. -dockerfile ${parsed.args[0]})`);
  const missing = (['base', 'dockerfile', 'output'] as const).filter((n) => ({ base, dockerfile, output })[n].value === '');
  if (missing.length > 0) return usageError(`${missing.map((m) => `-${m}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`);
  if (!['auto', 'overlay', 'scan'].includes(snap.value)) return usageError(`-snapshotter must be auto, overlay or scan, not ${JSON.stringify(snap.value)}`);
  if (kind.value !== 'build' && kind.value !== 'run') return usageError(`-kind must be build or run, not ${JSON.stringify(kind.value)}`);
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel.value)) return usageError(`-log-level must be debug, info, warn or error, not ${JSON.stringify(logLevel.value)}`);
  const args: Array<[string, string]> = [];
  for (const a of buildArgs.value) {
    const eq = a.indexOf('=');
    if (eq <= 0) return usageError(`-build-arg ${JSON.stringify(a)}: expected NAME=VALUE`);
    args.push([a.slice(0, eq), a.slice(eq + 1)]);
  }
  for (const [flag, path, want] of [['dockerfile', dockerfile.value, 'file'], ['context', context.value, 'directory']] as const) {
    if (path === '') continue;
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return usageError(`-${flag} ${path}: no such ${want}${isAbsolute(path) ? '' : ` (relative to ${process.cwd()})`}`);
    if (want === 'file' && st.isDirectory()) return usageError(`-${flag} ${path} is a directory: name the Dockerfile itself, e.g. -${flag} ${join(path, 'run.Dockerfile')}`);
    if (want === 'directory' && !st.isDirectory()) return usageError(`-${flag} ${path} is not a directory`);
  }
  const level = logLevel.value as ProgressLevel;
  const opened = openProgress(out, { out: io.stderr, env, level, color: io.stderr.isTTY === true && env.NO_COLOR === undefined, fallback: 'plain' });
  if (typeof opened === 'string') return usageError(opened);
  const progress: Progress = opened;

  const sde = env.SOURCE_DATE_EPOCH !== undefined && /^\d+$/.test(env.SOURCE_DATE_EPOCH) ? Number(env.SOURCE_DATE_EPOCH) : undefined;
  const report = new ReportBuilder('apply');
  report.inputs = {
    base: base.value,
    dockerfile: dockerfile.value,
    context: context.value || null,
    buildArgs: args.map(([k]) => k),
    output: output.value,
    sparse: sparse.value,
    kind: kind.value,
    snapshotter: snap.value,
    cacheDir: cacheDir.value,
    ...(sde !== undefined ? { sourceDateEpoch: sde } : {}),
  };
  const started = performance.now();
  const interrupt = onInterrupt();
  let code: number;
  let failure: unknown;
  try {
    const res = await runApply(
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
      progress.log,
      { progress, signal: interrupt.signal, onStep: (r: BuildStepReport) => report.step({ dockerfile: dockerfile.value, ...r }) },
    );
    const desc = await outputDescriptor(res);
    progress.close();
    recordOutcome(report, res, desc, sparse.value);
    io.stdout.write(summary(res, desc, performance.now() - started, sparse.value));
    code = EXIT_CODES.ok;
  } catch (e) {
    failure = e;
    progress.close();
    code = interrupt.signal.aborted ? EXIT_CODES.interrupted : exitCodeFor(e);
    io.stderr.write(`${formatError(e, level === 'debug')}\n`);
  } finally {
    interrupt.dispose();
  }
  return finishReport(out.json.value, report, {
    exitCode: code,
    error: failure,
    warnings: progress.warnings,
    printError: (m) => io.stderr.write(`ERROR: ${m}\n`),
  });
}

/** The descriptor the output layout's index.json now holds for the image (digest, size, media type). */
async function outputDescriptor(res: ApplyOutcome): Promise<Descriptor> {
  const layout = await OciLayout.open(res.outputDir);
  const img = await layout.image(res.tag ? { tag: res.tag } : { digest: res.result.image.digest });
  return { mediaType: img.manifestMediaType, digest: img.digest, size: img.rawManifest.length };
}

function recordOutcome(report: ReportBuilder, res: ApplyOutcome, desc: Descriptor, sparse: boolean): void {
  const createdBy = new Map(res.result.steps.filter((s) => s.layer).map((s) => [s.layer!.digest, s.instruction]));
  for (const l of res.result.newLayers) {
    const by = createdBy.get(l.descriptor.digest);
    report.newLayers.push({ digest: l.descriptor.digest, diffID: l.diffID, size: l.descriptor.size, mediaType: l.descriptor.mediaType, ...(by ? { createdBy: by } : {}) });
  }
  report.output = { digest: desc.digest, mediaType: desc.mediaType, size: desc.size, layout: res.outputDir, ...(res.tag ? { tag: res.tag } : {}), sparse };
  report.inputs = { ...report.inputs, baseDigest: res.base.digest, snapshotterUsed: res.snapshotter };
}

/** The human summary on stdout: where the image is, and what the run did. */
function summary(res: ApplyOutcome, desc: Descriptor, ms: number, sparse: boolean): string {
  const r = res.result;
  const hits = r.steps.filter((s) => s.cache === 'hit').length;
  const bytes = r.newLayers.reduce((n, l) => n + l.descriptor.size, 0);
  return (
    `${res.outputDir}${res.tag ? `:${res.tag}` : ''} ${desc.digest}\n` +
    `  ${plural(r.steps.length, 'step')}${hits > 0 ? ` (${hits} cached)` : ''}, ${plural(r.newLayers.length, 'new layer')} (${formatBytes(bytes)}), ` +
    `${res.snapshotter} snapshotter, ${formatDuration(ms)}${sparse ? ', sparse' : ''}\n`
  );
}
