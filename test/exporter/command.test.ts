import { cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, validateLayout } from '../../oci/index.js';
import { refToLayoutPath, runExport } from '../../src/cli/export.js';
import { fixture } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { SHARED_FIXTURE_IMAGE } from './helpers.js';

let busybox: string;
beforeAll(() => {
  busybox = fixture('busybox');
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } } };
}

async function workspace(): Promise<{ root: string; layers: string; app: string }> {
  const root = await tmpDir();
  const runDir = join(root, 'run-image');
  await cp(busybox, runDir, { recursive: true });
  const run = await (await OciLayout.open(runDir)).image({ tag: 'latest' });
  const layers = join(root, 'layers');
  await mkdir(layers);
  await writeFile(join(layers, 'analyzed.toml'), `[run-image]\nreference = "${runDir}@${run.digest}"\nimage = "registry.example.com/run:1"\nextend = true\n`);
  await cp(SHARED_FIXTURE_IMAGE, join(layers, 'extended', 'run', basename(SHARED_FIXTURE_IMAGE)), { recursive: true });
  const app = join(root, 'workspace');
  await mkdir(app);
  await writeFile(join(app, 'index.html'), '<h1>hi</h1>');
  return { root, layers, app };
}

describe('cnb-extender export', () => {
  it('writes the layout under -layout-dir at the lifecycle image path, full and -sparse', async () => {
    const w = await workspace();
    const env = { CNB_PLATFORM_API: '0.13' };
    const t = io();
    const code = await runExport(['-layers', w.layers, '-app', w.app, '-run', join(w.root, 'none.toml'), '-layout', '-layout-dir', join(w.root, 'oci'), 'my-app'], env, t.io);
    expect(t.out.join('')).toContain('Adding extension layer first-extension');
    expect(code).toBe(0);
    const dir = join(w.root, 'oci', 'index.docker.io', 'library', 'my-app', 'latest');
    await validateLayout(dir);
    const img = await (await OciLayout.open(dir)).image();
    expect(img.config.rootfs.diff_ids).toHaveLength(4);
    const t2 = io();
    expect(await runExport(['-layers', w.layers, '-app', w.app, '-sparse', '-output', join(w.root, 'sparse'), 'my-app'], env, t2.io)).toBe(0);
    await validateLayout(join(w.root, 'sparse'), { allowMissingBlobs: true });
    const names = await readdir(join(w.root, 'sparse', 'blobs', 'sha256'));
    expect(names).not.toContain(img.manifest.layers[0]!.digest.slice(7));
  });

  it('exit codes: Platform API 11, missing image 3, experimental 62, a flag not in this Platform API 2', async () => {
    const w = await workspace();
    expect(await runExport(['x'], {}, io().io)).toBe(11);
    expect(await runExport(['-layers', w.layers], { CNB_PLATFORM_API: '0.13' }, io().io)).toBe(3);
    const t = io();
    expect(await runExport(['-layers', w.layers, '-app', w.app, '-output', join(w.root, 'o'), 'x'], { CNB_PLATFORM_API: '0.12' }, t.io)).toBe(62);
    expect(t.out.join('')).toContain('experimental features are disabled by CNB_EXPERIMENTAL_MODE=error');
    expect(await runExport(['-insecure-registry', 'h:5000', 'x'], { CNB_PLATFORM_API: '0.12' }, io().io)).toBe(2);
  });

  it('maps image references to layout paths like imgutil', () => {
    expect(refToLayoutPath('my-app')).toBe('index.docker.io/library/my-app/latest');
    expect(refToLayoutPath('localhost:5000/a/b:v1')).toBe('localhost:5000/a/b/v1');
  });
});
