// `cnb-extender export`: the exporter as a command, with the lifecycle exporter's flags, env and
// Platform API gates where they apply (cmd/lifecycle/exporter.go), Go flag syntax, and the
// lifecycle's exit codes (3 invalid args, 11 Platform API, 62 export). It writes an OCI layout
// (-layout, under -layout-dir, or -output) — full, or -sparse without run-image base blobs — or
// pushes to a registry.
import { join } from 'node:path';
import { Reference, Registry, keychainFromInputs } from '../../oci/index.js';
import { EXTENDER_PLATFORM_APIS, apiAtLeast, apiSupported, parseApiVersion } from '../cnb/index.js';
import { lifecycleLogger, parseLogLevel } from '../cli/extender-log.js';
import { FlagSet, parseGoBool } from '../cli/flags.js';
import type { CliIO, Command, Env } from '../cli/io.js';
import type { AppLayerInput } from './compose.js';
import { ExportError, isExportError } from './errors.js';
import { exportImage, type ExportOutput } from './export.js';

export const EXPORT_EXIT = { OK: 0, FAILED: 1, USAGE: 2, INVALID_ARGS: 3, PLATFORM_API: 11, EXPORT: 62 } as const;

/** imgutil layout.ParseRefToPath: `<registry>/<repository>/<tag or digest>` (Docker Hub as index.docker.io). */
export function refToLayoutPath(ref: string): string {
  const r = Reference.parse(ref);
  const registry = r.registry === 'docker.io' ? 'index.docker.io' : r.registry;
  return join(registry, r.repository, r.digest ? r.digest.replace(':', '/') : (r.tag ?? 'latest'));
}

function envBool(v: string | undefined, def: boolean): boolean {
  if (v === undefined || v === '') return def;
  try {
    return parseGoBool(v);
  } catch {
    return def;
  }
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'export an app image on the (extended) run image: OCI layout (full or sparse) or registry',
  run: runExport,
};

export async function runExport(argv: string[], env: Env, io: CliIO, opts: { registry?: Registry } = {}): Promise<number> {
  const log = lifecycleLogger(io.stdout, { color: false });
  const apiStr = env.CNB_PLATFORM_API ?? '';
  const api = parseApiVersion(apiStr);
  if (!api || !apiSupported(EXTENDER_PLATFORM_APIS, api)) {
    log.error(`failed to parse platform API: platform API version '${apiStr}' is incompatible with the lifecycle`);
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
    layout: at12 ? fs.bool('layout', envBool(env.CNB_USE_LAYOUT, false), 'export to an OCI layout under -layout-dir') : undefined,
    layoutDir: at12 ? fs.string('layout-dir', env.CNB_LAYOUT_DIR || '', 'path to the layout directory') : undefined,
    insecure: at13 ? fs.stringList('insecure-registry', 'a registry reached over plain HTTP (repeatable)') : undefined,
    output: fs.string('output', '', 'write the OCI layout to this directory (instead of -layout-dir/<image path>)'),
    sparse: fs.bool('sparse', false, 'leave run-image base-layer blobs out of the layout'),
    layerDirs: fs.stringList('layer-dir', 'an extra app layer: <dir>[:<path in image>] (repeatable)'),
    noApp: fs.bool('no-app-layer', false, 'do not export the app directory as a layer'),
    uid: fs.int('uid', Number(env.CNB_USER_ID ?? 0) || 0, 'owner of app layer files'),
    gid: fs.int('gid', Number(env.CNB_GROUP_ID ?? 0) || 0, 'group of app layer files'),
    logLevel: fs.string('log-level', env.CNB_LOG_LEVEL || 'info', 'logging level'),
    noColor: fs.bool('no-color', envBool(env.CNB_NO_COLOR, false), 'disable color output'),
  };
  const parsed = fs.parse(argv);
  if (parsed.kind === 'help') {
    io.stderr.write(`Usage: cnb-extender export [flags] <image>\n${fs.usage()}`);
    return EXPORT_EXIT.OK;
  }
  if (parsed.kind === 'error') {
    io.stderr.write(`${parsed.message}\n${fs.usage()}`);
    return EXPORT_EXIT.USAGE;
  }
  const level = parseLogLevel(f.logLevel.value);
  if (!level) {
    log.error(`failed to parse log level: invalid level ${JSON.stringify(f.logLevel.value)}`);
    return EXPORT_EXIT.INVALID_ARGS;
  }
  log.setLevel(level);
  const [image, ...moreTags] = parsed.args;
  if (image === undefined) {
    log.error('failed to parse arguments: at least one image argument is required');
    return EXPORT_EXIT.INVALID_ARGS;
  }
  if (moreTags.length > 0) log.warn(`Ignoring additional tags ${moreTags.join(', ')}: one image is written`);

  const insecure = f.insecure?.value.length ? f.insecure.value : (at13 && env.CNB_INSECURE_REGISTRIES ? env.CNB_INSECURE_REGISTRIES.split(',').filter(Boolean) : []);
  const registry = opts.registry ?? new Registry({ insecure, keychain: keychainFromInputs({ env, log }), log });
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
    const res = await exportImage({
      platformApi: `${api.major}.${api.minor}`,
      analyzedPath: f.analyzed.value || join(layersDir, 'analyzed.toml'),
      ...(f.extended ? { extendedDir: f.extended.value || join(layersDir, 'extended') } : {}),
      ...(f.run ? { runPath: f.run.value } : {}),
      layersDir,
      appDir: f.app.value,
      appLayers,
      output,
      registry,
      env,
      log,
    });
    log.debug(`exported ${res.output} (${res.descriptor.digest})`);
    return EXPORT_EXIT.OK;
  } catch (e) {
    const msg = joinCauses(e);
    log.error(`failed to export: ${msg}`);
    if (e instanceof Error && e.stack) log.debug(e.stack);
    return isExportError(e, 'INPUT') ? EXPORT_EXIT.INVALID_ARGS : EXPORT_EXIT.EXPORT;
  } finally {
    if (!opts.registry) await registry.close();
  }
}

function joinCauses(e: unknown): string {
  let out = e instanceof Error ? e.message : String(e);
  let c = e instanceof Error ? e.cause : undefined;
  for (let i = 0; c instanceof Error && i < 8; i++, c = c.cause) if (!out.includes(c.message)) out += `: ${c.message}`;
  return out;
}
