import { existsSync } from 'node:fs';
import { readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  Annotation, appendLayers, DirBlobStore, emptyImage, fromParts, MediaType, OciLayout, parseLayoutRef, sha256, storeLayer,
  validateLayout, withCreated, type Digest, type Image, type Index, type Layer,
} from '../../oci/index.js';
import { tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { blobNames, ociFailure, readAll } from './oci-helpers.js';

const tarOf = (name: string, content = `${name}\n`): Buffer => tarFrom([{ name, content }]);

async function newLayer(store: DirBlobStore, name: string): Promise<{ layer: Layer; tar: Buffer }> {
  const tar = tarOf(name);
  return { layer: await storeLayer(Readable.from([tar]), store), tar };
}

/** An OCI image with `n` layers, built in a scratch store. */
async function makeImage(n: number, platform = { os: 'linux', architecture: 'amd64' }): Promise<{ img: Image; tars: Buffer[] }> {
  const store = new DirBlobStore(await tmpDir('cnbx-src-'));
  let img = emptyImage(platform);
  const tars: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const { layer, tar } = await newLayer(store, `file-${i}-${platform.architecture}`);
    tars.push(tar);
    img = appendLayers(img, { layer, history: { created_by: `layer ${i}` } });
  }
  return { img: withCreated(img, '2024-05-06T07:08:09Z'), tars };
}

async function indexOf(dir: string): Promise<Index> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
}

describe('OciLayout: write and read', () => {
  it('full round trip by tag, digest and sole image; the layout validates', async () => {
    const dir = await tmpDir();
    const { img, tars } = await makeImage(3);
    const layout = await OciLayout.create(dir);
    const desc = await layout.writeImage(img, { tag: 'v1' });
    expect(desc).toEqual({ mediaType: MediaType.OciManifest, digest: img.digest, size: img.rawManifest.length, annotations: { [Annotation.RefName]: 'v1' } });
    await validateLayout(dir);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });

    const reopened = await OciLayout.open(dir);
    for (const back of [await reopened.image({ tag: 'v1' }), await reopened.image({ digest: img.digest }), await reopened.image()]) {
      expect(back.digest).toBe(img.digest);
      expect(back.rawManifest.equals(img.rawManifest)).toBe(true);
      expect(back.rawConfig.equals(img.rawConfig)).toBe(true);
      expect(back.layers.map((l) => l.descriptor)).toEqual(img.layers.map((l) => l.descriptor));
      for (const [i, l] of back.layers.entries()) expect((await readAll(await l.openUncompressed())).equals(tars[i]!)).toBe(true);
    }
    // Writing the same image again changes nothing.
    const before = await readFile(join(dir, 'index.json'));
    await layout.writeImage(img, { tag: 'v1' });
    expect(await readFile(join(dir, 'index.json'))).toEqual(before);
    expect(await blobNames(dir)).toHaveLength(5);
  });

  it('sparse: chosen layer blobs only; manifest and config always; missing layers fail saying so', async () => {
    const dir = await tmpDir();
    const { img, tars } = await makeImage(3);
    const layout = await OciLayout.create(dir);
    await layout.writeImage(img, { tag: 'run', layers: (_l, i) => i >= 2, replaceIndex: true });
    const names = await blobNames(dir);
    expect(names).toContain(img.digest.slice(7));
    expect(names).toContain(img.manifest.config.digest.slice(7));
    expect(names).toContain(img.layers[2]!.descriptor.digest.slice(7));
    expect(names).not.toContain(img.layers[0]!.descriptor.digest.slice(7));
    expect(names).toHaveLength(3);
    await validateLayout(dir, { allowMissingBlobs: true });
    const strict = await ociFailure(validateLayout(dir));
    expect(strict.code).toBe('INVALID_LAYOUT');
    expect(strict.message).toContain(img.layers[0]!.descriptor.digest);

    const back = await (await OciLayout.open(dir)).image({ tag: 'run' });
    expect(back.digest).toBe(img.digest);
    expect((await readAll(await back.layers[2]!.openUncompressed())).equals(tars[2]!)).toBe(true);
    const e = await ociFailure(back.layers[0]!.open());
    expect(e.code).toBe('BLOB_MISSING_SPARSE');
    expect(e.digest).toBe(img.layers[0]!.descriptor.digest);
    expect(e.message).toContain('sparse layout');
    expect(e.message).toContain(dir);

    // layers: 'none' writes manifest and config only.
    const dir2 = await tmpDir();
    await (await OciLayout.create(dir2)).writeImage(img, { layers: 'none' });
    expect(await blobNames(dir2)).toEqual([img.digest.slice(7), img.manifest.config.digest.slice(7)].sort());
    await validateLayout(dir2, { allowMissingBlobs: true });
  });

  it('a sparse layout re-written from itself stays sparse and keeps its digest', async () => {
    const dir = await tmpDir();
    const { img } = await makeImage(2);
    await (await OciLayout.create(dir)).writeImage(img, { tag: 'a', layers: 'none' });
    const back = await (await OciLayout.open(dir)).image();
    const dir2 = await tmpDir();
    const desc = await (await OciLayout.create(dir2)).writeImage(back, { tag: 'a', layers: 'none' });
    expect(desc.digest).toBe(img.digest);
    // Asking for a layer that is absent in the source fails, and the target index is not touched.
    const dir3 = await tmpDir();
    const target = await OciLayout.create(dir3);
    const e = await ociFailure(target.writeImage(back, { tag: 'full' }));
    expect(e.code).toBe('BLOB_MISSING_SPARSE');
    expect((await indexOf(dir3)).manifests).toEqual([]);
    expect((await blobNames(dir3)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('tags move, untagged duplicates are not added twice, replaceIndex keeps only the new image', async () => {
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const a = (await makeImage(1)).img;
    const b = (await makeImage(2)).img;
    await layout.writeImage(a, { tag: 'latest' });
    await layout.writeImage(a);
    await layout.writeImage(a);
    await layout.writeImage(b, { tag: 'latest' });
    await layout.writeImage(b, { tag: 'other' });
    let idx = await indexOf(dir);
    expect(idx.manifests.map((d) => [d.digest, d.annotations?.[Annotation.RefName]])).toEqual([
      [a.digest, undefined],
      [b.digest, 'latest'],
      [b.digest, 'other'],
    ]);
    expect((await layout.image({ tag: 'latest' })).digest).toBe(b.digest);
    expect((await layout.image({ digest: b.digest })).digest).toBe(b.digest);
    const amb = await ociFailure(layout.image());
    expect(amb.code).toBe('AMBIGUOUS_IMAGE');
    expect(amb.path).toBe(dir);
    await validateLayout(dir);

    await layout.writeImage(a, { tag: 'only', replaceIndex: true });
    idx = await indexOf(dir);
    expect(idx.manifests).toHaveLength(1);
    expect(idx.manifests[0]!.digest).toBe(a.digest);
    expect((await layout.image()).digest).toBe(a.digest);
    const badTag = await ociFailure(layout.writeImage(a, { tag: 'no spaces' }));
    expect(badTag.code).toBe('INVALID_REFERENCE');
  });

  it('reading and re-writing keeps manifest and config bytes (pretty-printed Docker schema2 input)', async () => {
    const src = await tmpDir();
    const store = new DirBlobStore(src);
    const tar = tarOf('docker-layer');
    const gz = await storeLayer(Readable.from([tar]), store, { mediaType: MediaType.DockerLayerGzip });
    const rawConfig = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [gz.diffID] }, config: { Env: ['A=1'] }, 'x-extra': [1, 2] }, null, 2));
    const rawManifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, size: rawConfig.length, digest: sha256(rawConfig) },
      layers: [gz.descriptor],
    }, null, 3) + '\n');
    const img = fromParts(rawManifest, rawConfig, [gz]);
    await (await OciLayout.create(src)).writeImage(img, { tag: 't' });
    await validateLayout(src);

    const read = await (await OciLayout.open(src)).image({ tag: 't' });
    const dst = await tmpDir();
    const desc = await (await OciLayout.create(dst)).writeImage(read, { tag: 't' });
    expect(desc.digest).toBe(img.digest);
    expect(desc.mediaType).toBe(MediaType.DockerManifest);
    expect(await readFile(join(dst, 'blobs/sha256', img.digest.slice(7)))).toEqual(rawManifest);
    expect(await readFile(join(dst, 'blobs/sha256', sha256(rawConfig).slice(7)))).toEqual(rawConfig);
    await validateLayout(dst);
  });

  it('nested indexes resolve to the host platform, or the one asked for', async () => {
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const amd = (await makeImage(1, { os: 'linux', architecture: 'amd64' })).img;
    const arm = (await makeImage(1, { os: 'linux', architecture: 'arm64' })).img;
    // Write both (untagged), then replace index.json by one nested index, as multi-arch images are stored.
    await layout.writeImage(amd);
    await layout.writeImage(arm);
    const nested: Index = {
      schemaVersion: 2, mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: arm.digest, size: arm.rawManifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MediaType.OciManifest, digest: amd.digest, size: amd.rawManifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const rawNested = Buffer.from(JSON.stringify(nested));
    await layout.blobs.put(rawNested);
    await writeFile(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.OciIndex,
      manifests: [{ mediaType: MediaType.OciIndex, digest: sha256(rawNested), size: rawNested.length, annotations: { [Annotation.RefName]: 'multi' } }],
    }));
    await validateLayout(dir);
    expect((await layout.image({ tag: 'multi', platform: { os: 'linux', architecture: 'amd64' } })).digest).toBe(amd.digest);
    expect((await layout.image({ tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } })).digest).toBe(arm.digest);
    expect((await layout.image()).config.architecture).toBe(process.arch === 'arm64' ? 'arm64' : 'amd64');
    expect((await layout.image({ digest: arm.digest })).digest).toBe(arm.digest);
    const none = await ociFailure(layout.image({ platform: { os: 'linux', architecture: 's390x' } }));
    expect(none.code).toBe('IMAGE_NOT_FOUND');
    expect(none.message).toContain('linux/s390x');
    expect(none.message).toContain('linux/arm64');
  });

  it('parseLayoutRef', () => {
    const d = `sha256:${'ab'.repeat(32)}` as Digest;
    expect(parseLayoutRef('/x/y')).toEqual({ dir: '/x/y' });
    expect(parseLayoutRef('/x/y:latest')).toEqual({ dir: '/x/y', tag: 'latest' });
    expect(parseLayoutRef('rel/dir:v1.2-rc')).toEqual({ dir: 'rel/dir', tag: 'v1.2-rc' });
    expect(parseLayoutRef(`/x/y@${d}`)).toEqual({ dir: '/x/y', digest: d });
    expect(parseLayoutRef('/a:b/c')).toEqual({ dir: '/a:b/c' });
    const named = `/layers/extended/run/sha256:${'cd'.repeat(32)}`;
    expect(parseLayoutRef(named)).toEqual({ dir: named });
    expect(parseLayoutRef(`${named}@${d}`)).toEqual({ dir: named, digest: d });
    expect(parseLayoutRef(`${named}:v1`)).toEqual({ dir: named, tag: 'v1' });
    for (const bad of ['', '/x:', '/x:bad tag', '/x@sha256:short']) {
      expect(() => parseLayoutRef(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_REFERENCE' }));
    }
  });
});

describe('OciLayout: bad input gives typed errors naming the file or digest', () => {
  it('missing or bad oci-layout, corrupt or missing index.json', async () => {
    const dir = await tmpDir();
    const noLayout = await ociFailure(OciLayout.open(dir));
    expect(noLayout.code).toBe('INVALID_LAYOUT');
    expect(noLayout.path).toBe(join(dir, 'oci-layout'));

    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    expect((await ociFailure(OciLayout.open(dir))).message).toContain('2.0.0');
    await writeFile(join(dir, 'oci-layout'), 'not json');
    expect((await ociFailure(OciLayout.open(dir))).code).toBe('INVALID_LAYOUT');
    // create() does not overwrite an existing (bad) oci-layout.
    expect((await ociFailure(OciLayout.create(dir))).code).toBe('INVALID_LAYOUT');
    expect(await readFile(join(dir, 'oci-layout'), 'utf8')).toBe('not json');

    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const noIndex = await ociFailure(OciLayout.open(dir));
    expect(noIndex.code).toBe('INVALID_LAYOUT');
    expect(noIndex.path).toBe(join(dir, 'index.json'));
    await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[{"digest":"sha256:nothex"');
    const corrupt = await ociFailure(OciLayout.open(dir));
    expect(corrupt.code).toBe('INVALID_LAYOUT');
    expect(corrupt.path).toBe(join(dir, 'index.json'));
    await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:nothex","size":1}]}');
    expect((await ociFailure(OciLayout.open(dir))).message).toContain('index.json');
    expect((await ociFailure(validateLayout(dir))).code).toBe('INVALID_LAYOUT');
  });

  it('no matching image: IMAGE_NOT_FOUND listing what there is', async () => {
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    expect((await ociFailure(layout.image())).code).toBe('IMAGE_NOT_FOUND');
    const { img } = await makeImage(1);
    await layout.writeImage(img, { tag: 'present' });
    const e = await ociFailure(layout.image({ tag: 'absent' }));
    expect(e.code).toBe('IMAGE_NOT_FOUND');
    expect(e.message).toContain('present');
    expect(e.path).toBe(dir);
    const d = sha256(Buffer.from('nothing'));
    const byDigest = await ociFailure(layout.image({ digest: d }));
    expect(byDigest.code).toBe('IMAGE_NOT_FOUND');
    expect(byDigest.digest).toBe(d);
  });

  it('manifest with wrong bytes, truncated config, missing config', async () => {
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const { img } = await makeImage(1);
    await layout.writeImage(img, { tag: 'x' });
    const manifestPath = layout.blobs.path(img.digest);
    const configPath = layout.blobs.path(img.manifest.config.digest);
    const goodManifest = await readFile(manifestPath);
    const goodConfig = await readFile(configPath);

    await writeFile(manifestPath, goodManifest.toString().replace('"layers"', '"Layers"'));
    const wrong = await ociFailure(layout.image({ tag: 'x' }));
    expect(wrong.code).toBe('DIGEST_MISMATCH');
    expect(wrong.digest).toBe(img.digest);
    expect(wrong.path).toBe(manifestPath);
    expect((await ociFailure(validateLayout(dir))).message).toContain(manifestPath);
    await writeFile(manifestPath, goodManifest);

    await truncate(configPath, goodConfig.length - 10);
    const trunc = await ociFailure(layout.image({ tag: 'x' }));
    expect(trunc.code).toBe('SIZE_MISMATCH');
    expect(trunc.path).toBe(configPath);
    await rm(configPath);
    const missing = await ociFailure(layout.image({ tag: 'x' }));
    expect(missing.code).toBe('BLOB_NOT_FOUND');
    expect(missing.digest).toBe(img.manifest.config.digest);
    await writeFile(configPath, goodConfig);
    await validateLayout(dir);
  });

  it('a layer whose source bytes are wrong is not written, and index.json is untouched', async () => {
    const srcDir = await tmpDir();
    const { img } = await makeImage(2);
    await (await OciLayout.create(srcDir)).writeImage(img, { tag: 'x' });
    const bad = join(srcDir, 'blobs/sha256', img.layers[1]!.descriptor.digest.slice(7));
    const bytes = await readFile(bad);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100);
    await writeFile(bad, bytes);
    const src = await (await OciLayout.open(srcDir)).image({ tag: 'x' });

    const dst = await tmpDir();
    const layout = await OciLayout.create(dst);
    const indexBefore = await readFile(join(dst, 'index.json'));
    const e = await ociFailure(layout.writeImage(src, { tag: 'x' }));
    expect(e.code).toBe('DIGEST_MISMATCH');
    expect(e.digest).toBe(img.layers[1]!.descriptor.digest);
    expect(await readFile(join(dst, 'index.json'))).toEqual(indexBefore);
    const names = await blobNames(dst);
    expect(names).not.toContain(img.layers[1]!.descriptor.digest.slice(7));
    expect(names.filter((n) => n.startsWith('.'))).toEqual([]);
    expect(await readdir(dst)).toEqual(['blobs', 'index.json', 'oci-layout']);
  });
});

describe('OciLayout: lifecycle output with fake descriptor sizes', () => {
  /** A sparse Docker-schema2 layout whose sizes are wrong, as the lifecycle's extender writes it (contract.md §5.1). */
  async function fakeSizes(): Promise<{ dir: string; top: Layer; base: Layer; digest: Digest }> {
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const scratch = new DirBlobStore(await tmpDir());
    const base = await storeLayer(Readable.from([tarOf('base')]), scratch, { mediaType: MediaType.DockerLayerGzip });
    const top = await storeLayer(Readable.from([tarOf('top')]), layout.blobs, { mediaType: MediaType.DockerLayerGzip });
    const rawConfig = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '0001-01-01T00:00:00Z', rootfs: { type: 'layers', diff_ids: [base.diffID, top.diffID] } }));
    const rawManifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, size: 2771, digest: sha256(rawConfig) },
      layers: [{ ...base.descriptor, size: 26711153 }, { ...top.descriptor, size: 38445484 }],
    }, null, 2));
    await layout.blobs.put(rawConfig);
    await layout.blobs.put(rawManifest);
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.DockerManifest, size: 1083, digest: sha256(rawManifest) }] }));
    return { dir, top, base, digest: sha256(rawManifest) };
  }

  it('strict reading refuses it; verifySizes:false reads it, digests still checked', async () => {
    const { dir, top, base, digest } = await fakeSizes();
    expect((await ociFailure((await OciLayout.open(dir)).image())).code).toBe('SIZE_MISMATCH');
    const img = await (await OciLayout.open(dir, { verifySizes: false })).image();
    expect(img.digest).toBe(digest);
    expect(await readAll(await img.layers[1]!.openUncompressed())).toEqual(tarOf('top'));
    expect((await ociFailure(img.layers[0]!.open())).code).toBe('BLOB_MISSING_SPARSE');
    void top;
    void base;
  });

  it('reads the lifecycle acceptance fixture when it is available', { skip: !existsSync('/work/shared/fixtures/lifecycle-extended-run') }, async () => {
    const root = '/work/shared/fixtures/lifecycle-extended-run';
    const [sub] = await readdir(root).then((n) => n.filter((x) => x.startsWith('sha256')));
    const img = await (await OciLayout.open(join(root, sub!), { verifySizes: false })).image();
    expect(img.digest).toBe('sha256:40007d6086160bcdf45770ed12d23f0c594013cf0cd5e65ffc67be8f46e0d9c9');
    expect(img.manifestMediaType).toBe(MediaType.DockerManifest);
    expect(img.layers).toHaveLength(3);
    expect((await ociFailure(img.layers[0]!.open())).code).toBe('BLOB_MISSING_SPARSE');
    const tar = await readAll(await img.layers[2]!.openUncompressed());
    expect(tar.length % 512).toBe(0);
    expect(tar.subarray(0, 100).toString('latin1')).toContain('some-other-dir');
  });
});
