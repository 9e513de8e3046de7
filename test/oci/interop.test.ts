// Interoperability with independent implementations: umoci and skopeo read what we write, and we
// read what they write.
import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, writeFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  appendLayers, MediaType, OciLayout, storeLayer, validateLayout, withContainerConfig, type Image,
} from '../../oci/index.js';
import { fixture, hasCommand, isRoot } from '../helpers/fixtures.js';
import { entriesOf, tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { exec, readAll } from './oci-helpers.js';

const haveUmoci = hasCommand('umoci') && isRoot;
const haveSkopeo = hasCommand('skopeo');

/** A tiny layout made by umoci itself: init, new, unpack, add files, repack. */
async function umociLayout(): Promise<string> {
  const work = await tmpDir('cnbx-umoci-');
  const layout = join(work, 'layout');
  await exec('umoci', ['init', '--layout', layout]);
  await exec('umoci', ['new', '--image', `${layout}:t`]);
  await exec('umoci', ['unpack', '--image', `${layout}:t`, join(work, 'bundle')]);
  const rootfs = join(work, 'bundle', 'rootfs');
  await writeFile(join(rootfs, 'hello'), 'hi\n');
  await mkdir(join(rootfs, 'etc'));
  await writeFile(join(rootfs, 'etc', 'motd'), 'from umoci\n');
  await symlink('hello', join(rootfs, 'link'));
  await exec('umoci', ['repack', '--image', `${layout}:t`, join(work, 'bundle')]);
  await exec('umoci', ['config', '--image', `${layout}:t`, '--config.env', 'A=1', '--config.user', '1000']);
  return layout;
}

/** Our extension of an image: one new layer with a file, a label. */
async function extend(base: Image, layout: OciLayout): Promise<Image> {
  const tar = tarFrom([{ name: 'opt/', type: 'dir' }, { name: 'opt/ours.txt', content: 'written by cnb-extender\n' }]);
  const layer = await storeLayer(Readable.from([tar]), layout.blobs);
  const img = appendLayers(base, { layer, history: { created_by: 'RUN echo ours' } });
  return withContainerConfig(img, (c) => ({ ...c, Labels: { ...c.Labels, 'test.ours': 'yes' } }));
}

describe.skipIf(!haveUmoci)('umoci', () => {
  it('we read a layout umoci wrote, and re-write it with the same digest', async () => {
    const src = await umociLayout();
    await validateLayout(src);
    const img = await (await OciLayout.open(src)).image({ tag: 't' });
    expect(img.config.config?.Env).toContain('A=1');
    expect(img.config.config?.User).toBe('1000');
    const entries: string[] = [];
    for (const l of img.layers) {
      for (const e of entriesOf(await readAll(await l.openUncompressed()))) entries.push(`${e.name} ${e.type}${e.linkname ? ` -> ${e.linkname}` : ''}`);
    }
    expect(entries).toEqual(expect.arrayContaining(['hello file', 'etc/ dir', 'etc/motd file', 'link symlink -> hello']));

    const dst = await tmpDir();
    const desc = await (await OciLayout.create(dst)).writeImage(img, { tag: 'copy' });
    expect(desc.digest).toBe(img.digest);
    await validateLayout(dst);
  });

  it('umoci unpacks a layout we wrote (umoci base + our layer)', async () => {
    const src = await umociLayout();
    const base = await (await OciLayout.open(src)).image({ tag: 't' });
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const img = await extend(base, layout);
    await layout.writeImage(img, { tag: 'ext' });
    await validateLayout(dir);
    const bundle = join(await tmpDir(), 'bundle');
    await exec('umoci', ['unpack', '--image', `${dir}:ext`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'opt', 'ours.txt'), 'utf8')).toBe('written by cnb-extender\n');
    expect(await readFile(join(bundle, 'rootfs', 'hello'), 'utf8')).toBe('hi\n');
    expect(await readlink(join(bundle, 'rootfs', 'link'))).toBe('hello');
    const runtime = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { env: string[] } };
    expect(runtime.process.env).toContain('A=1');
  });

  it('the busybox fixture, extended by us, unpacks with umoci', async () => {
    const fx = fixture('busybox');
    await validateLayout(fx);
    const base = await (await OciLayout.open(fx)).image({ tag: 'latest' });
    expect(base.layers.length).toBeGreaterThanOrEqual(1);
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const img = await extend(base, layout);
    await layout.writeImage(img, { tag: 'latest' });
    await validateLayout(dir);
    const bundle = join(await tmpDir(), 'bundle');
    await exec('umoci', ['unpack', '--image', `${dir}:latest`, bundle]);
    expect((await lstat(join(bundle, 'rootfs', 'bin', 'busybox'))).isFile()).toBe(true);
    expect(await readFile(join(bundle, 'rootfs', 'opt', 'ours.txt'), 'utf8')).toBe('written by cnb-extender\n');
  });
});

describe.skipIf(!haveSkopeo)('skopeo', () => {
  async function inspect(ref: string): Promise<{ Digest: string; Layers: string[]; Labels: Record<string, string> | null }> {
    const { stdout } = await exec('skopeo', ['inspect', ref]);
    return JSON.parse(stdout) as { Digest: string; Layers: string[]; Labels: Record<string, string> | null };
  }

  async function ourImage(opts: { sparse?: boolean } = {}): Promise<{ dir: string; img: Image }> {
    const fx = fixture('busybox');
    const base = await (await OciLayout.open(fx)).image({ tag: 'latest' });
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const img = await extend(base, layout);
    const baseCount = base.layers.length;
    await layout.writeImage(img, { tag: 'v1', ...(opts.sparse ? { layers: (_l, i) => i >= baseCount, replaceIndex: true } : {}) });
    return { dir, img };
  }

  it('skopeo inspects a full and a sparse layout we wrote', async () => {
    for (const sparse of [false, true]) {
      const { dir, img } = await ourImage({ sparse });
      const info = await inspect(`oci:${dir}:v1`);
      expect(info.Digest).toBe(img.digest);
      expect(info.Layers).toEqual(img.layers.map((l) => l.descriptor.digest));
      expect(info.Labels?.['test.ours']).toBe('yes');
    }
  });

  it('we read the layout skopeo copy makes of ours', async () => {
    const { dir, img } = await ourImage();
    const copy = join(await tmpDir(), 'copy');
    await exec('skopeo', ['copy', '--quiet', `oci:${dir}:v1`, `oci:${copy}:c`]);
    await validateLayout(copy);
    const back = await (await OciLayout.open(copy)).image({ tag: 'c' });
    expect(back.config.rootfs.diff_ids).toEqual(img.config.rootfs.diff_ids);
    expect(back.config.config?.Labels?.['test.ours']).toBe('yes');
    // skopeo copies an OCI image between layouts unchanged.
    expect(back.digest).toBe(img.digest);
    const top = back.layers.at(-1)!;
    expect(entriesOf(await readAll(await top.openUncompressed())).map((e) => e.name)).toEqual(['opt/', 'opt/ours.txt']);
  });

  it('we read a Docker schema2 image skopeo wrote, and skopeo reads it back from us unchanged', async () => {
    const { dir } = await ourImage();
    const docker = join(await tmpDir(), 'docker');
    await exec('skopeo', ['copy', '--quiet', '--format', 'v2s2', `oci:${dir}:v1`, `oci:${docker}:d`]);
    const img = await (await OciLayout.open(docker)).image({ tag: 'd' });
    expect(img.manifestMediaType).toBe(MediaType.DockerManifest);
    expect(img.layers.every((l) => l.descriptor.mediaType === MediaType.DockerLayerGzip)).toBe(true);
    await validateLayout(docker);

    // Extend it: the new layer is listed with the Docker type; skopeo still reads the result.
    const out = await tmpDir();
    const layout = await OciLayout.create(out);
    const ext = await extend(img, layout);
    expect(ext.manifest.layers.at(-1)!.mediaType).toBe(MediaType.DockerLayerGzip);
    await layout.writeImage(ext, { tag: 'e', replaceIndex: true });
    await validateLayout(out);
    // skopeo 1.9 skips Docker-typed index.json entries when matching a tag (even its own, as
    // written above); with one image in the index it needs none.
    const info = await inspect(`oci:${out}`);
    expect(info.Digest).toBe(ext.digest);
    expect(info.Layers).toEqual(ext.layers.map((l) => l.descriptor.digest));
    const again = join(await tmpDir(), 'again');
    // (oci: destinations convert to OCI unless told to keep v2s2.)
    await exec('skopeo', ['copy', '--quiet', '--format', 'v2s2', `oci:${out}`, `oci:${again}:e`]);
    expect((await (await OciLayout.open(again)).image()).digest).toBe(ext.digest);
    expect(existsSync(join(again, 'index.json'))).toBe(true);
  });
});
