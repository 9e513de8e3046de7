// `cnb-extender export`: the exporter (src/exporter) as a command, with the lifecycle exporter's flags, env and
// Platform API gates where they apply (cmd/lifecycle/exporter.go), Go flag syntax, and the
// lifecycle's exit codes (3 invalid args, 11 Platform API, 62 export). It writes an OCI layout
// (-layout, under -layout-dir, or -output) — full, or -sparse without run-image base blobs — or
// pushes to a registry.
import { join } from 'node:path';
import { Reference, Registry, keychainFromInputs } from '../../oci/index.js';
import { EXTENDER_PLATFORM_APIS, apiAtLeast, apiSupported, parseApiVersion } from '../cnb/index.js';
import { ExportError, exportImage, isExportError, type AppLayerInput, type ExportImageResult, type ExportOutput } from '../exporter/index.js';
import { goBoolEnv } from '../extender/inputs.js';
import { lifecycleLogger, parseLogLevel } from './extender-log.js';
import { FlagSet } from './flags.js';
import { formatBytes, plural } from './format.js';
import { EXPORT_HELP, wantsHelp } from './help.js';
import { hintFor, imagePaths } from './hints.js';
import type { CliIO, Command, Env } from './io.js';
import { openPhaseProgress, parsePhaseFlags } from './lifecycle-phase.js';
import { defineOutputFlags, finishReport } from './output-flags.js';
import type { Progress } from './progress.js';
import { ReportBuilder } from './report.js';

export const EXPORT_EXIT = { OK: 0, FAILED: 1, USAGE: 2, INVALID_ARGS: 3, PLATFORM_API: 11, EXPORT: 62 } as const;

/** imgutil layout.ParseRefToPath: `<registry>/<repository>/<tag or digest>` (Docker Hub as index.docker.io). */
export function refToLayoutPath(ref: string): string {
  const r = Reference.parse(ref);
  const registry = r.registry === 'docker.io' ? 'index.docker.io' : r.registry;
  return join(registry, r.repository, r.digest ? r.digest.replace(':', '/') : (r.tag ?? 'latest'));
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'export an app image on the (extended) run image: OCI layout (full or sparse) or registry',
  run: runExport,
};

/** The newest Platform API export knows: what `-help` shows when CNB_PLATFORM_API is not set. */
const NEWEST_API = EXTENDER_PLATFORM_APIS[EXTENDER_PLATFORM_APIS.length - 1]!;

export async function runExport(argv: string[], env: Env, io: CliIO, opts: { registry?: Registry } = {}): Promise<number> {
  const early = lifecycleLogger(io.stdout, { color: false });
  const apiStr = env.CNB_PLATFORM_API ?? '';
  let api = parseApiVersion(apiStr);
  if (!api && wantsHelp(argv)) api = parseApiVersion(NEWEST_API);
  if (!api || !apiSupported(EXTENDER_PLATFORM_APIS, api)) {
    early.error(`failed to parse platform API: platform API version '${apiStr}' is incompatible with the lifecycle`);
    if (apiStr === '') early.error("please set 'CNB_PLATFORM_API' to the Platform API the platform speaks (0.10 to 0.15)");
    return EXPORT_EXIT.PLATFORM_API;
  }
  const at12 = apiAtLeast(api, '0.12');
  const at13 = apiAtLeast(api, '0.13');
  const layersDef = env.CNB_LAYERS_DIR || '/layers';
  const fs = new FlagSet('export');
  const f = {
    analyzed: fs.string('analyzed', env.CNB_ANALYZED_PATH || '', 'path to analyzed.toml (default <layers>/analyzed.toml)'),
    app: fs.string('app', env.CNB_APP_DIR || '/workspace', 'path to app directory (exported as the app layer)'),
    layers: fs.string('layers', layersDef, 'path to layers directory'),
    extended: at12 ? fs.string('extended', env.CNB_EXTENDED_DIR || '', 'path to the extended directory (default <layers>/extended)') : undefined,
    run: at12 ? fs.string('run', env.CNB_RUN_PATH || '/cnb/run.toml', 'path to run.toml') : undefined,
    layout: at12 ? fs.bool('layout', goBoolEnv(env.CNB_USE_LAYOUT), 'export to an OCI layout under -layout-dir') : undefined,
    layoutDir: at12 ? fs.string('layout-dir', env.CNB_LAYOUT_DIR || '', 'path to the layout directory') : undefined,
    insecure: at13 ? fs.stringList('insecure-registry', 'a registry reached over plain HTTP (repeatable)') : undefined,
    output: fs.string('output', '', 'write the OCI layout to this directory (instead of -layout-dir/<image path>)'),
    sparse: fs.bool('sparse', false, 'leave run-image base-layer blobs out of the layout'),
    layerDirs: fs.stringList('layer-dir', 'an extra app layer: <dir>[:<path in image>] (repeatable)'),
    noApp: fs.bool('no-app-layer', false, 'do not export the app directory as a layer'),
    uid: fs.int('uid', Number(env.CNB_USER_ID ?? 0) || 0, 'owner of app layer files'),
    gid: fs.int('gid', Number(env.CNB_GROUP_ID ?? 0) || 0, 'group of app layer files'),
    logLevel: fs.string('log-level', env.CNB_LOG_LEVEL || 'info', 'logging level'),
    noColor: fs.bool('no-color', goBoolEnv(env.CNB_NO_COLOR), 'disable color output'),
  };
  const out = defineOutputFlags(fs, env, 'lifecycle');
  const parsed = parsePhaseFlags(fs, argv, io, { help: EXPORT_HELP, command: 'cnb-extender export' });
  if ('exitCode' in parsed) return parsed.exitCode;
  const level = parseLogLevel(f.logLevel.value);
  if (!level) {
    early.error(`failed to parse log level: invalid level ${JSON.stringify(f.logLevel.value)}`);
    return EXPORT_EXIT.INVALID_ARGS;
  }
  const opened = openPhaseProgress(out, { io, env, level, noColor: f.noColor.value });
  if (typeof opened === 'string') {
    io.stderr.write(`${opened}\n`);
    return EXPORT_EXIT.USAGE;
  }
  const progress: Progress = opened;
  const log = progress.log;
  const report = new ReportBuilder('export');
  const finish = async (code: number, error?: unknown, message?: string): Promise<number> => {
    progress.close();
    return finishReport(out.json.value, report, { exitCode: code, error, ...(message ? { errorMessage: message } : {}), warnings: progress.warnings, printError: (m) => log.error(m) });
  };
  const [image, ...moreTags] = parsed.args;
  if (image === undefined) {
    log.error('failed to parse arguments: at least one image argument is required (the app image\'s name, e.g. my-app:latest or registry.example.com/my-app)');
    return finish(EXPORT_EXIT.INVALID_ARGS, undefined, 'at least one image argument is required');
  }
  if (moreTags.length > 0) log.warn(`Ignoring additional tags ${moreTags.join(', ')}: one image is written`);

  const insecure = f.insecure?.value.length ? f.insecure.value : (at13 && env.CNB_INSECURE_REGISTRIES ? env.CNB_INSECURE_REGISTRIES.split(',').filter(Boolean) : []);
  const registry = opts.registry ?? new Registry({ insecure, keychain: keychainFromInputs({ env, log }), log });
  let task: ReturnType<Progress['task']> | undefined;
  try {
    const layersDir = f.layers.value;
    let output: ExportOutput;
    const useLayout = f.layout?.value === true || f.output.value !== '';
    if (useLayout) {
      let dir = f.output.value;
      if (dir === '') {
        const layoutDir = f.layoutDir?.value ?? '';
        if (layoutDir === '') throw new ExportError('INPUT', 'defining a layout directory is required when OCI Layout feature is enabled. Use -layout-dir flag or CNB_LAYOUT_DIR environment variable');
        dir = join(layoutDir, refToLayoutPath(image));
      }
      output = { kind: 'layout', dir, sparse: f.sparse.value, replaceIndex: true, tag: Reference.parse(image).tag ?? 'latest' };
    } else {
      if (f.sparse.value) log.warn('Ignoring -sparse: it applies to layout output only');
      output = { kind: 'registry', reference: image };
    }
    const appLayers: AppLayerInput[] = [];
    if (!f.noApp.value) appLayers.push({ createdBy: 'Application Layer', dir: f.app.value, target: f.app.value, uid: f.uid.value, gid: f.gid.value });
    for (const spec of f.layerDirs.value) {
      const i = spec.indexOf(':');
      const dir = i < 0 ? spec : spec.slice(0, i);
      const target = i < 0 ? '/' : spec.slice(i + 1);
      appLayers.push({ createdBy: `Layer: '${target}'`, dir, target, uid: f.uid.value, gid: f.gid.value });
    }
    const analyzedPath = f.analyzed.value || join(layersDir, 'analyzed.toml');
    const extendedDir = f.extended ? f.extended.value || join(layersDir, 'extended') : undefined;
    report.inputs = {
      image, platformApi: `${api.major}.${api.minor}`, layers: layersDir, app: f.app.value, analyzed: analyzedPath,
      ...(extendedDir ? { extended: extendedDir } : {}), ...(f.run ? { run: f.run.value } : {}),
      output: output.kind === 'layout' ? { layout: output.dir, sparse: output.sparse ?? false } : { reference: output.reference },
      appLayers: appLayers.map((a) => ({ dir: a.dir, target: a.target })),
    };
    task = progress.task(`${image} → ${output.kind === 'layout' ? output.dir : 'registry'}`, { tag: 'export', absorbLogs: true });
    const res = await exportImage({
      platformApi: `${api.major}.${api.minor}`,
      analyzedPath,
      ...(extendedDir ? { extendedDir } : {}),
      ...(f.run ? { runPath: f.run.value } : {}),
      layersDir,
      appDir: f.app.value,
      appLayers,
      output,
      registry,
      env,
      log,
    });
    const added = recordExport(report, res, output);
    task.done(`${res.descriptor.digest.slice(0, 19)}…, ${plural(added.count, 'new layer')} (${formatBytes(added.bytes)})`);
    progress.close();
    log.info(`Exported ${image} to ${res.output}: ${res.descriptor.digest} (${plural(res.image.layers.length, 'layer')}: ${res.compose.baseLayerCount} from the run image, ${res.compose.extensionLayers.length} from extensions, ${res.compose.appLayers.length} app)`);
    return await finish(EXPORT_EXIT.OK);
  } catch (e) {
    task?.fail();
    progress.close();
    const msg = joinCauses(e);
    const hint = hintFor(e);
    log.error(`failed to export: ${imagePaths(msg, e)}${hint ? `\nhint: ${hint}` : ''}`);
    if (e instanceof Error && e.stack) log.debug(e.stack);
    return finish(isExportError(e, 'INPUT') ? EXPORT_EXIT.INVALID_ARGS : EXPORT_EXIT.EXPORT, e, `failed to export: ${msg}`);
  } finally {
    if (!opts.registry) await registry.close();
  }
}

/** The report's layers (extension and app layers, with sizes) and output; returns what was added. */
function recordExport(report: ReportBuilder, res: ExportImageResult, output: ExportOutput): { count: number; bytes: number } {
  const size = new Map(res.image.layers.map((l) => [l.descriptor.digest, l.descriptor]));
  let bytes = 0;
  for (const l of [...res.compose.extensionLayers, ...res.compose.appLayers]) {
    const d = size.get(l.digest);
    bytes += d?.size ?? 0;
    report.newLayers.push({ digest: l.digest, diffID: l.diffID, size: d?.size ?? 0, ...(d ? { mediaType: d.mediaType } : {}), createdBy: l.createdBy });
  }
  const d = res.descriptor;
  report.output = output.kind === 'layout'
    ? { digest: d.digest, mediaType: d.mediaType, size: d.size, layout: output.dir, ...(output.tag ? { tag: output.tag } : {}), sparse: output.sparse ?? false }
    : { digest: d.digest, mediaType: d.mediaType, size: d.size, reference: output.reference };
  return { count: res.compose.extensionLayers.length + res.compose.appLayers.length, bytes };
}

function joinCauses(e: unknown): string {
  let out = (e instanceof Error ? e.message : String(e)).trim();
  let c = e instanceof Error ? e.cause : undefined;
  for (let i = 0; c instanceof Error && i < 8; i++, c = c.cause) {
    const m = c.message.trim();
    if (m !== '' && !out.includes(m)) out += `: ${m}`;
  }
  return out;
}
