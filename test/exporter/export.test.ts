import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, validateLayout, digestHex, type Image } from '../../oci/index.js';
import { memoryLogger } from '../../src/log.js';
import { exportImage, imageBlobSource, isExportError, LIFECYCLE_METADATA_LABEL, type ExportImageOptions } from '../../src/exporter/index.js';
import { fixture, hasCommand, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { SHARED_FIXTURE_IMAGE, busyboxRunImage } from './helpers.js';

const EXT_DIFF_IDS = [
  'sha256:fb54d2566824d6630d94db0b008d9a544a94d3547a424f52e2fd282b648c0601',
  'sha256:1018c7d3584c4f7fa3ef4486d1a6a11b93956b9d8bfe0898a3e0fbd248c984d8',
];
const EXT_HISTORY = [
  "Layer: 'RUN mkdir /some-dir && echo some-data > /some-dir/some-file && echo some-data > /some-file', Created by extension: first-extension",
  "Layer: 'RUN mkdir /some-other-dir && echo some-data > /some-other-dir/some-file && echo some-data > /some-other-file', Created by extension: second-extension",
];

let busybox: string;
beforeAll(() => {
  busybox = fixture('busybox');
});

interface Setup {
  root: string;
  runDir: string;
  run: Image;
  opts: (over?: Partial<ExportImageOptions>) => ExportImageOptions;
}

/** A run image (busybox + one more layer) in a layout, analyzed.toml, run.toml, <extended>/run, an app dir. */
async function setup(o: { extend?: boolean; extended?: boolean; platformApi?: string } = {}): Promise<Setup> {
  const root = await tmpDir();
  const runDir = join(root, 'run-image');
  const { run } = await busyboxRunImage(busybox, runDir, { createdBy: 'run image extra layer' });
  await writeFile(join(root, 'analyzed.toml'), `[run-image]\nreference = "${runDir}@${run.digest}"\nimage = "localhost:5000/run:latest"\n${o.extend === false ? '' : 'extend = true\n'}`);
  await writeFile(join(root, 'run.toml'), '[[images]]\nimage = "example.com/other:1"\n\n[[images]]\nimage = "localhost:5000/run:latest"\nmirrors = ["mirror1.example.com/run:latest", "mirror2.example.com/run"]\n');
  const layers = join(root, 'layers');
  await mkdir(layers);
  if (o.extended !== false) await cp(SHARED_FIXTURE_IMAGE, join(layers, 'extended', 'run', basename(SHARED_FIXTURE_IMAGE)), { recursive: true });
  const app = join(root, 'app');
  await mkdir(join(app, 'sub'), { recursive: true });
  await writeFile(join(app, 'hello.txt'), 'hello\n');
  await writeFile(join(app, 'sub', 'x.sh'), '#!/bin/sh\n', { mode: 0o755 });
  return {
    root,
    runDir,
    run,
    opts: (over = {}) => ({
      platformApi: o.platformApi ?? '0.13',
      analyzedPath: join(root, 'analyzed.toml'),
      runPath: join(root, 'run.toml'),
      layersDir: layers,
      appDir: '/workspace',
      appLayers: [{ createdBy: 'Application Layer', dir: app, target: '/workspace', uid: 1000, gid: 1000 }],
      output: { kind: 'layout', dir: join(root, 'out'), tag: 'app' },
      env: {},
      ...over,
    }),
  };
}

async function blobNames(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'blobs', 'sha256'))).filter((n) => !n.startsWith('.'));
}

describe('exportImage to an OCI layout', () => {
  it('full: run image + re-tarred extension layers + app layer, extended config, lifecycle metadata (§9 26–29)', async () => {
    const s = await setup();
    const log = memoryLogger();
    const res = await exportImage(s.opts({ log }));
    const out = join(s.root, 'out');
    await validateLayout(out);
    const img = await (await OciLayout.open(out)).image({ tag: 'app' });
    expect(img.digest).toBe(res.descriptor.digest);
    const ids = img.config.rootfs.diff_ids;
    // run image layers first, untouched, then the extension layers (re-tarred), then the app layer
    expect(ids.slice(0, 2)).toEqual(s.run.config.rootfs.diff_ids);
    expect(ids.slice(2, 4)).toEqual(EXT_DIFF_IDS);
    expect(ids).toHaveLength(5);
    expect(img.manifest.layers.slice(0, 2).map((l) => l.digest)).toEqual(s.run.manifest.layers.map((l) => l.digest));
    // history: extension entries keep their strings; every created is the 1980 default
    const hist = img.config.history!;
    expect(hist.slice(-3).map((h) => h.created_by)).toEqual([...EXT_HISTORY, 'Application Layer']);
    expect(new Set(hist.map((h) => h.created))).toEqual(new Set(['1980-01-01T00:00:01Z']));
    expect(img.config.created).toBe('1980-01-01T00:00:01Z');
    // the extended config replaced the run image's config object
    const cfg = img.config.config!;
    expect(cfg.User).toBe('root');
    expect(cfg.Labels!['io.buildpacks.rebasable']).toBe('false');
    expect(cfg.Labels!['org.opencontainers.image.version']).toBe('18.04');
    expect(cfg.Cmd).toEqual(['/bin/bash']);
    expect(cfg.WorkingDir).toBe('/workspace');
    expect(cfg.Env).toEqual([
      'PATH=/cnb/process:/cnb/lifecycle:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'CNB_USER_ID=1234', 'CNB_GROUP_ID=1000', 'CNB_STACK_ID=some-stack-id',
      `CNB_LAYERS_DIR=${s.opts().layersDir}`, 'CNB_APP_DIR=/workspace', 'CNB_PLATFORM_API=0.13', 'CNB_DEPRECATION_MODE=quiet',
    ]);
    const meta = JSON.parse(cfg.Labels![LIFECYCLE_METADATA_LABEL]!) as Record<string, any>;
    expect(meta.runImage).toEqual({
      topLayer: s.run.config.rootfs.diff_ids.at(-1),
      reference: `${s.runDir}@${s.run.digest}`,
      image: 'localhost:5000/run:latest',
      mirrors: ['mirror1.example.com/run:latest', 'mirror2.example.com/run'],
    });
    expect(meta.app).toEqual([{ sha: ids[4] }]);
    expect(meta.stack).toEqual({ runImage: { image: 'localhost:5000/run:latest', mirrors: ['mirror1.example.com/run:latest', 'mirror2.example.com/run'] } });
    expect(log.lines).toContain('info: Adding extension layer first-extension');
    // every blob is there (usable offline)
    const names = await blobNames(out);
    for (const l of img.manifest.layers) expect(names).toContain(digestHex(l.digest));
  });

  it('full output is read by umoci unpack and skopeo inspect', async () => {
    if (!isRoot || !hasCommand('umoci') || !hasCommand('skopeo')) return expect.fail('needs root, umoci and skopeo');
    const s = await setup();
    await exportImage(s.opts());
    const out = join(s.root, 'out');
    const bundle = join(s.root, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${out}:app`, bundle], { stdio: 'pipe' });
    const rootfs = join(bundle, 'rootfs');
    expect(await readFile(join(rootfs, 'some-dir', 'some-file'), 'utf8')).toBe('some-data\n');
    expect(await readFile(join(rootfs, 'some-other-file'), 'utf8')).toBe('some-data\n');
    expect(await readFile(join(rootfs, 'workspace', 'hello.txt'), 'utf8')).toBe('hello\n');
    expect((await stat(join(rootfs, 'workspace', 'sub', 'x.sh'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(rootfs, 'workspace', 'hello.txt'))).uid).toBe(1000);
    expect(await readFile(join(rootfs, 'etc', 'run-image-marker'), 'utf8')).toBe('run');
    expect((await stat(join(rootfs, 'bin', 'busybox'))).isFile()).toBe(true);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${out}:app`], { encoding: 'utf8' })) as { Layers: string[]; Labels: Record<string, string> };
    expect(inspect.Layers).toHaveLength(5);
    expect(inspect.Labels['io.buildpacks.rebasable']).toBe('false');
  });

  it('sparse: no base-layer blob, still a valid layout with the same image', async () => {
    const s = await setup();
    const full = await exportImage(s.opts());
    const res = await exportImage(s.opts({ output: { kind: 'layout', dir: join(s.root, 'sparse'), sparse: true, tag: 'app' } }));
    expect(res.descriptor.digest).toBe(full.descriptor.digest);
    const out = join(s.root, 'sparse');
    await validateLayout(out, { allowMissingBlobs: true });
    const names = await blobNames(out);
    for (const l of s.run.manifest.layers) expect(names).not.toContain(digestHex(l.digest));
    const img = await (await OciLayout.open(out)).image({ tag: 'app' });
    for (const l of img.manifest.layers.slice(2)) expect(names).toContain(digestHex(l.digest));
    expect(names).toContain(digestHex(img.digest));
    expect(names).toContain(digestHex(img.manifest.config.digest));
  });

  it('a sparse run image with a full output: fails listing the missing blobs, or fills them from a source', async () => {
    const s = await setup();
    const layout = await OciLayout.open(s.runDir);
    const fullCopy = join(s.root, 'run-full');
    await cp(s.runDir, fullCopy, { recursive: true });
    for (const l of s.run.manifest.layers) await rm(layout.blobs.path(l.digest));
    const e = await exportImage(s.opts()).catch((x: unknown) => x);
    expect(isExportError(e, 'MISSING_BLOBS')).toBe(true);
    for (const l of s.run.manifest.layers) expect((e as Error).message).toContain(l.digest);
    expect((e as Error).message).toContain(join(s.runDir, 'blobs', 'sha256'));
    // nothing half-written
    await expect(stat(join(s.root, 'out'))).rejects.toThrow();
    expect((await readdir(s.root)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    // the same base blobs from another source (here a full copy standing for the registry)
    const source = imageBlobSource(await (await OciLayout.open(fullCopy)).image({ tag: 'run' }), 'the full run image');
    await exportImage(s.opts({ baseBlobs: source }));
    await validateLayout(join(s.root, 'out'));
    // and a sparse output needs none of them
    await exportImage(s.opts({ output: { kind: 'layout', dir: join(s.root, 'sparse'), sparse: true } }));
    await validateLayout(join(s.root, 'sparse'), { allowMissingBlobs: true });
  });

  it('extend=false: the run image config stays, the extension layers are still appended (§9 26)', async () => {
    const s = await setup({ extend: false });
    const res = await exportImage(s.opts());
    const cfg = res.image.config.config!;
    expect(cfg.Labels?.['io.buildpacks.rebasable']).toBeUndefined();
    expect(cfg.User).toBe(s.run.config.config?.User);
    expect(res.image.config.rootfs.diff_ids.slice(2, 4)).toEqual(EXT_DIFF_IDS);
  });

  it('extend=true without an extended image fails with the lifecycle message', async () => {
    const s = await setup({ extended: false });
    const e = await exportImage(s.opts()).catch((x: unknown) => x);
    expect(isExportError(e, 'MISSING_EXTENDED')).toBe(true);
    expect((e as Error).message).toContain('missing extended run image');
  });

  it('SOURCE_DATE_EPOCH sets every created', async () => {
    const s = await setup();
    const res = await exportImage(s.opts({ env: { SOURCE_DATE_EPOCH: '1700000000' } }));
    expect(res.image.config.created).toBe('2023-11-14T22:13:20Z');
    expect(new Set(res.image.config.history!.map((h) => h.created))).toEqual(new Set(['2023-11-14T22:13:20Z']));
  });

  it('below Platform 0.12 there are no extension layers and no history', async () => {
    const s = await setup({ platformApi: '0.11' });
    const res = await exportImage(s.opts());
    expect(res.image.config.rootfs.diff_ids).toHaveLength(3);
    expect(res.image.config.history).toBeUndefined();
    const meta = JSON.parse(res.image.config.config!.Labels![LIFECYCLE_METADATA_LABEL]!) as Record<string, any>;
    expect(meta.runImage.image).toBeUndefined();
  });
});

describe('experimental mode below Platform 0.13 (§9 30)', () => {
  it('error fails, warn warns, and 0.13 does not consult the mode', async () => {
    const s = await setup({ platformApi: '0.12' });
    const e = await exportImage(s.opts()).catch((x: unknown) => x);
    expect(isExportError(e, 'EXPERIMENTAL')).toBe(true);
    expect((e as Error).message).toBe('experimental features are disabled by CNB_EXPERIMENTAL_MODE=error');
    const log = memoryLogger();
    await exportImage(s.opts({ env: { CNB_EXPERIMENTAL_MODE: 'warn' }, log }));
    expect(log.lines).toContain("warn: Platform requested experimental feature 'Dockerfiles'");
    const s13 = await setup({ platformApi: '0.13' });
    const log13 = memoryLogger();
    await exportImage(s13.opts({ env: { CNB_EXPERIMENTAL_MODE: 'error' }, log: log13 }));
    expect(log13.lines.some((l) => l.includes('experimental'))).toBe(false);
  });

  it('without run extension output the mode is not consulted', async () => {
    const s = await setup({ platformApi: '0.12', extend: false, extended: false });
    await exportImage(s.opts({ env: { CNB_EXPERIMENTAL_MODE: 'error' } }));
  });
});
