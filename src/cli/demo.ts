import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tar from 'tar-stream';
import { OciLayout, type Image, type Layer } from '../../oci/index.js';
import { streamLogger } from '../log.js';
import { defaultCacheDir, runApply } from './apply.js';
import { exitCodeFor, formatError } from './exit-codes.js';
import { formatBytes } from './format.js';
import type { Command } from './io.js';

const PACKAGE_ROOT = resolve(import.meta.dirname, '../../..');

/** The tar entries of a layer, as `+ path`, `- path` (whiteouts) lines. */
async function describeLayer(layer: Layer): Promise<string[]> {
  const lines: string[] = [];
  const extract = tar.extract();
  const src = await layer.openUncompressed();
  src.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    const name = h.name.replace(/\/$/, '');
    const base = name.split('/').pop() ?? '';
    if (base.startsWith('.wh.')) lines.push(`  - /${name.slice(0, name.length - base.length)}${base.slice(4)}   (deleted)`);
    else if (h.type !== 'directory') lines.push(`  + /${name}${h.type === 'symlink' ? ` -> ${h.linkname}` : ` (${formatBytes(h.size ?? 0)}, mode ${((h.mode ?? 0) & 0o7777).toString(8)})`}`);
    entry.resume();
  }
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
  async run(_argv, env, io) {
    const fixtures = env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures';
    const log = streamLogger(io.stderr, 'info');
    const out = mkdtempSync(join(tmpdir(), 'cnbx-demo-'));
    try {
      execFileSync('bash', [join(PACKAGE_ROOT, 'fixtures/make-fixtures.sh'), 'busybox'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...env, CNBX_FIXTURES: fixtures },
      });
      const ext = join(PACKAGE_ROOT, 'fixtures/extensions/hello');
      io.stdout.write(`Applying ${join(ext, 'run.Dockerfile')}\n     to ${join(fixtures, 'busybox')} (busybox, 1 layer)\n\n`);
      const r = await runApply(
        {
          base: `${join(fixtures, 'busybox')}:latest`,
          dockerfile: join(ext, 'run.Dockerfile'),
          context: join(ext, 'context'),
          buildArgs: [['user_id', '1000'], ['group_id', '1000']],
          output: `${join(out, 'extended')}:latest`,
          sparse: true,
          snapshotter: 'auto',
          kind: 'run',
          cacheDir: defaultCacheDir(env),
        },
        log,
        { onOutput: (line) => io.stdout.write(`  │ ${line}\n`), onStep: (s) => io.stdout.write(`step  line ${s.line}: ${s.instruction}${s.layer ? `  → new layer, ${formatBytes(s.layer.size)}` : ''}\n`) },
      );
      io.stdout.write(`\nWhat changed (${r.result.newLayers.length} new layers, ${r.snapshotter} snapshotter):\n`);
      // The build's scratch store is gone; read the new layers back from the written layout.
      const written = await (await OciLayout.open(join(out, 'extended'))).image({ tag: 'latest' });
      for (const layer of written.layers.slice(r.base.layers.length)) {
        io.stdout.write(` layer ${layer.descriptor.digest}\n${(await describeLayer(layer)).join('\n')}\n`);
      }
      io.stdout.write(`${configChanges(r.base, r.result.image).join('\n')}\n`);
      io.stdout.write(`\nExtended image ${r.result.image.digest} written as a sparse OCI layout (new layers only).\n`);
      return 0;
    } catch (e) {
      io.stderr.write(`${formatError(e)}\n`);
      return exitCodeFor(e);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
};
