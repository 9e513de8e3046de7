import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OciLayout, type Image, type Layer } from '../../oci/index.js';
import type { BuildStepReport } from '../build/index.js';
import { defaultCacheDir, runApply } from './apply.js';
import { EXIT_CODES, exitCodeFor, formatError } from './exit-codes.js';
import { FlagSet } from './flags.js';
import { formatBytes } from './format.js';
import { DEMO_HELP, helpText } from './help.js';
import type { Command } from './io.js';
import { defineOutputFlags, finishReport, openProgress } from './output-flags.js';
import type { Progress } from './progress.js';
import { ReportBuilder } from './report.js';
import { onInterrupt } from './signals.js';

const PACKAGE_ROOT = resolve(import.meta.dirname, '../../..');

/** The tar entries of a layer, as `+ path`, `- path` (whiteouts) lines. */
async function describeLayer(layer: Layer): Promise<string[]> {
  const lines: string[] = [];
  const extract = tar.extract();
  const src = await layer.openUncompressed();
  const piped = pipeline(src, extract);
  for await (const entry of extract) {
    const h = entry.header;
    const name = h.name.replace(/\/$/, '');
    const base = name.split('/').pop() ?? '';
    if (base.startsWith('.wh.')) lines.push(`  - /${name.slice(0, name.length - base.length)}${base.slice(4)}   (deleted)`);
    else if (h.type !== 'directory') lines.push(`  + /${name}${h.type === 'symlink' ? ` -> ${h.linkname}` : ` (${formatBytes(h.size ?? 0)}, mode ${((h.mode ?? 0) & 0o7777).toString(8)})`}`);
    entry.resume();
  }
  await piped;
  return lines;
}

function configChanges(before: Image, after: Image): string[] {
  const a = before.config.config ?? {};
  const b = after.config.config ?? {};
  const out: string[] = [];
  if (a.User !== b.User) out.push(`  User: ${JSON.stringify(a.User ?? '')} -> ${JSON.stringify(b.User ?? '')}`);
  for (const e of b.Env ?? []) if (!(a.Env ?? []).includes(e)) out.push(`  Env: + ${e}`);
  for (const [k, v] of Object.entries(b.Labels ?? {})) if (a.Labels?.[k] !== v) out.push(`  Label: ${k}=${v}`);
  return out;
}

/** `cnb-extender demo`: extend the bundled busybox image with the sample extension and show the result. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'extend a small bundled base image with a sample extension and show what changed',
  async run(argv, env, io) {
    const fs = new FlagSet('cnb-extender demo');
    const out = defineOutputFlags(fs, env, 'plain');
    const parsed = fs.parse(argv);
    if (parsed.kind === 'help') {
      io.stdout.write(helpText(DEMO_HELP, fs.usage()));
      return EXIT_CODES.ok;
    }
    if (parsed.kind === 'error' || parsed.args.length > 0) {
      io.stderr.write(`cnb-extender demo: ${parsed.kind === 'error' ? parsed.message : `unexpected arguments: ${parsed.args.join(' ')}`}\nRun 'cnb-extender demo -help' for the flags.\n`);
      return EXIT_CODES.usage;
    }
    const opened = openProgress(out, { out: io.stderr, env, level: 'info', color: io.stderr.isTTY === true && env.NO_COLOR === undefined, fallback: 'plain' });
    if (typeof opened === 'string') {
      io.stderr.write(`cnb-extender demo: ${opened}\n`);
      return EXIT_CODES.usage;
    }
    const progress: Progress = opened;
    const report = new ReportBuilder('demo');
    const fixtures = env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures';
    const dir = mkdtempSync(join(tmpdir(), 'cnbx-demo-'));
    const interrupt = onInterrupt();
    let code: number;
    let failure: unknown;
    try {
      const fx = progress.task('busybox (fixtures/make-fixtures.sh)', { tag: 'fixture' });
      try {
        execFileSync('bash', [join(PACKAGE_ROOT, 'fixtures/make-fixtures.sh'), 'busybox'], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...env, CNBX_FIXTURES: fixtures },
        });
        fx.done(join(fixtures, 'busybox'));
      } catch (e) {
        const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
        for (const l of stderr.split('\n').filter(Boolean)) fx.output(l);
        fx.fail();
        throw new Error(`building the busybox fixture failed (fixtures/make-fixtures.sh needs root, umoci and busybox-static; run 'npm run demo' once to install them)`, { cause: e });
      }
      const ext = join(PACKAGE_ROOT, 'fixtures/extensions/hello');
      const req = {
        base: `${join(fixtures, 'busybox')}:latest`,
        dockerfile: join(ext, 'run.Dockerfile'),
        context: join(ext, 'context'),
        buildArgs: [['user_id', '1000'], ['group_id', '1000']] as Array<[string, string]>,
        output: `${join(dir, 'extended')}:latest`,
        sparse: true,
        snapshotter: 'auto' as const,
        kind: 'run' as const,
        cacheDir: defaultCacheDir(env),
      };
      report.inputs = { base: req.base, dockerfile: req.dockerfile, context: req.context, buildArgs: req.buildArgs.map(([k]) => k), kind: req.kind, sparse: true };
      io.stdout.write(`Applying ${req.dockerfile}\n     to ${join(fixtures, 'busybox')} (busybox, 1 layer)\n\n`);
      const r = await runApply(req, progress.log, { progress, signal: interrupt.signal, onStep: (s: BuildStepReport) => report.step({ dockerfile: req.dockerfile, ...s }) });
      progress.close();
      io.stdout.write(`\nWhat changed (${r.result.newLayers.length} new layers, ${r.snapshotter} snapshotter):\n`);
      // The build's scratch store is gone; read the new layers back from the written layout.
      const written = await (await OciLayout.open(join(dir, 'extended'))).image({ tag: 'latest' });
      for (const layer of written.layers.slice(r.base.layers.length)) {
        io.stdout.write(` layer ${layer.descriptor.digest}\n${(await describeLayer(layer)).join('\n')}\n`);
        report.newLayers.push({ digest: layer.descriptor.digest, diffID: layer.diffID, size: layer.descriptor.size, mediaType: layer.descriptor.mediaType });
      }
      io.stdout.write(`${configChanges(r.base, r.result.image).join('\n')}\n`);
      io.stdout.write(`\nExtended image ${r.result.image.digest} written as a sparse OCI layout (new layers only).\n`);
      io.stdout.write(`Next: 'cnb-extender apply -help' to extend your own image, 'npm test' for the test suite.\n`);
      report.output = { digest: written.digest, mediaType: written.manifestMediaType, size: written.rawManifest.length, layout: join(dir, 'extended'), tag: 'latest', sparse: true };
      code = EXIT_CODES.ok;
    } catch (e) {
      failure = e;
      progress.close();
      io.stderr.write(`${formatError(e)}\n`);
      code = interrupt.signal.aborted ? EXIT_CODES.interrupted : exitCodeFor(e);
    } finally {
      interrupt.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
    return finishReport(out.json.value, report, { exitCode: code, error: failure, warnings: progress.warnings, printError: (m) => io.stderr.write(`ERROR: ${m}\n`) });
  },
};
