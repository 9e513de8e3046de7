import { cp, mkdir, writeFile, rm, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../oci/index.js';
import { isExportError } from '../../src/exporter/errors.js';
import { extendedRunDir, parseExtensionId, readExtendedImageDir, readExtendedRunImage } from '../../src/exporter/extended-run-reader.js';
import { tmpDir } from '../helpers/tmp.js';
import { MediaType, SHARED_FIXTURE_IMAGE, gz, makeTar, writeHandLayout } from './helpers.js';

async function digestOf(s: AsyncIterable<unknown>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of s) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

describe('readExtendedRunImage', () => {
  it('reads the lifecycle fixture: any dir name, fake sizes, Docker types, absent base blob', async () => {
    // the shared copy sits beside a README, so give it a run directory of its own, as the lifecycle has
    const run = join(await tmpDir(), 'run');
    const dir = join(run, basename(SHARED_FIXTURE_IMAGE));
    await cp(SHARED_FIXTURE_IMAGE, dir, { recursive: true });
    const img = await readExtendedRunImage(run);
    expect(img).not.toBeNull();
    expect(img!.dir).toBe(dir);
    expect((await readExtendedImageDir(SHARED_FIXTURE_IMAGE)).manifestDigest).toBe(img!.manifestDigest);
    expect(img!.manifestDigest).toBe('sha256:40007d6086160bcdf45770ed12d23f0c594013cf0cd5e65ffc67be8f46e0d9c9');
    expect(img!.manifestMediaType).toBe(MediaType.DockerManifest);
    expect(img!.configDigest).toBe('sha256:2dc6ef9f627c01f3f9e4f735c90f0251b5adaf6ad5685c5afb5cf638412fad67');
    expect(img!.layers.map((l) => l.present)).toEqual([false, true, true]);
    const ext = img!.extensionLayers;
    expect(ext.map((l) => l.index)).toEqual([1, 2]);
    expect(ext.map((l) => l.descriptor.digest)).toEqual([
      'sha256:65c2873d397056a5cb4169790654d787579b005f18b903082b177d4d9b4aecf5',
      'sha256:0fb9b88c9cbe9f11b4c8da645f390df59f5949632985a0bfc2a842ef17b2ad18',
    ]);
    expect(ext[0]!.createdBy).toBe("Layer: 'RUN mkdir /some-dir && echo some-data > /some-dir/some-file && echo some-data > /some-file', Created by extension: first-extension");
    expect(ext.map((l) => l.extensionId)).toEqual(['first-extension', 'second-extension']);
    expect(img!.config.config?.Labels?.['io.buildpacks.rebasable']).toBe('false');
    // the blob streams are digest-verified but not size-checked (the sizes in the fixture are fake)
    expect(await digestOf(ext[0]!.open())).toBe(ext[0]!.descriptor.digest);
    const { compression } = await ext[1]!.openTar();
    expect(compression).toBe('gzip');
  });

  it('reads an OCI layout with plain and gzip layers, named after the manifest digest', async () => {
    const run = await tmpDir();
    const base = await makeTar([{ name: 'etc/base', data: 'base' }]);
    const plain = await makeTar([{ name: 'opt/', type: 'directory' }, { name: 'opt/one', data: '1' }]);
    const zipped = await makeTar([{ name: 'opt/two', data: '2' }]);
    const staging = join(run, 'staging');
    const { manifestDigest } = await writeHandLayout(staging, {
      manifestMediaType: MediaType.OciManifest, configMediaType: MediaType.OciConfig,
      layers: [
        { bytes: gz(base), mediaType: MediaType.OciLayerGzip, diffID: sha256(base), present: false },
        { bytes: plain, mediaType: MediaType.OciLayer, diffID: sha256(plain), present: true },
        { bytes: gz(zipped), mediaType: MediaType.OciLayerGzip, diffID: sha256(zipped), present: true },
      ],
      config: { architecture: 'amd64', os: 'linux', config: { User: '1000' }, history: [
        { created_by: 'base' }, { created_by: 'ENV X=1', empty_layer: true },
        { created_by: "Layer: 'RUN echo 1', Created by extension: my/ext" }, { created_by: 'odd entry' }] },
    });
    const runDir = join(run, 'extended', 'run');
    await mkdir(runDir, { recursive: true });
    await cp(staging, join(runDir, manifestDigest), { recursive: true });
    const img = await readExtendedRunImage(extendedRunDir(join(run, 'extended')));
    expect(img!.manifestDigest).toBe(manifestDigest);
    expect(img!.extensionLayers.map((l) => l.index)).toEqual([1, 2]);
    expect(img!.extensionLayers.map((l) => l.diffID)).toEqual([sha256(plain), sha256(zipped)]);
    // history pairs with non-empty entries only
    expect(img!.extensionLayers.map((l) => l.createdBy)).toEqual(["Layer: 'RUN echo 1', Created by extension: my/ext", 'odd entry']);
    expect(img!.extensionLayers.map((l) => l.extensionId)).toEqual(['my/ext', 'from extensions']);
    const t1 = await img!.extensionLayers[0]!.openTar();
    expect(t1.compression).toBe('none');
    expect(await digestOf(t1.tar)).toBe(sha256(plain));
    const t2 = await img!.extensionLayers[1]!.openTar();
    expect(t2.compression).toBe('gzip');
    expect(await digestOf(t2.tar)).toBe(sha256(zipped));
  });

  it('returns null for a missing or empty run directory', async () => {
    const d = await tmpDir();
    expect(await readExtendedRunImage(join(d, 'nope'))).toBeNull();
    await mkdir(join(d, 'run'));
    expect(await readExtendedRunImage(join(d, 'run'))).toBeNull();
  });

  it('fails like the lifecycle on more than one item, or more than one manifest', async () => {
    const d = await tmpDir();
    const run = join(d, 'run');
    await mkdir(join(run, 'a'), { recursive: true });
    await writeFile(join(run, 'stray'), '');
    const e1 = await readExtendedRunImage(run).catch((e: unknown) => e);
    expect(isExportError(e1, 'EXTENDED_LAYOUT')).toBe(true);
    expect((e1 as Error).message).toBe(`expected directory ${JSON.stringify(run)} to have only 1 item; found 2`);
    await rm(join(run, 'stray'));
    await cp(SHARED_FIXTURE_IMAGE, join(run, 'a'), { recursive: true });
    const idx = JSON.parse(await (await import('node:fs/promises')).readFile(join(run, 'a', 'index.json'), 'utf8')) as { manifests: unknown[] };
    idx.manifests.push(idx.manifests[0]);
    await (await import('node:fs/promises')).chmod(join(run, 'a', 'index.json'), 0o644);
    await writeFile(join(run, 'a', 'index.json'), JSON.stringify(idx));
    const e2 = await readExtendedRunImage(run).catch((e: unknown) => e);
    expect(isExportError(e2, 'EXTENDED_LAYOUT')).toBe(true);
    expect((e2 as Error).message).toBe(`expected image index at ${JSON.stringify(join(run, 'a'))} to have only 1 manifest; found 2`);
    expect(await readdir(run)).toEqual(['a']);
  });

  it('verifies digests: a tampered config or layer blob is an error', async () => {
    const d = await tmpDir();
    const img = join(d, 'run', 'x');
    await cp(SHARED_FIXTURE_IMAGE, img, { recursive: true });
    const layer = join(img, 'blobs/sha256/65c2873d397056a5cb4169790654d787579b005f18b903082b177d4d9b4aecf5');
    await (await import('node:fs/promises')).chmod(layer, 0o644);
    await writeFile(layer, gz(await makeTar([{ name: 'evil', data: 'x' }])));
    const read = await readExtendedRunImage(join(d, 'run'));
    await expect(digestOf(read!.extensionLayers[0]!.open())).rejects.toThrow(/does not match/);
    const cfg = join(img, 'blobs/sha256/2dc6ef9f627c01f3f9e4f735c90f0251b5adaf6ad5685c5afb5cf638412fad67');
    await (await import('node:fs/promises')).chmod(cfg, 0o644);
    await writeFile(cfg, '{}');
    await expect(readExtendedRunImage(join(d, 'run'))).rejects.toThrow(/does not match/);
  });

  it('parses extension IDs like the lifecycle history format', () => {
    expect(parseExtensionId("Layer: 'RUN a b', Created by extension: samples/curl")).toBe('samples/curl');
    expect(parseExtensionId('FROM x')).toBe('from extensions');
  });
});
