import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  appendLayers, emptyImage, fromParts, MediaType, OciLayout, sha256, storeLayer, validateJson, validateLayout, type Image,
} from '../../oci/index.js';
import { fixture } from '../helpers/fixtures.js';
import { tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { ociFailure } from './oci-helpers.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

describe('validateJson', () => {
  const layer = { mediaType: MediaType.OciLayerGzip, digest: D('a'), size: 10 };
  const config = { mediaType: MediaType.OciConfig, digest: D('b'), size: 20 };

  it('accepts valid documents', () => {
    validateJson('layout', { imageLayoutVersion: '1.0.0' });
    validateJson('manifest', { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer], annotations: { a: 'b' } });
    validateJson('index', { schemaVersion: 2, manifests: [{ ...config, mediaType: MediaType.OciManifest, platform: { os: 'linux', architecture: 'amd64' } }] });
    validateJson('config', {
      created: '2024-01-01T00:00:00Z', architecture: 'amd64', os: 'linux',
      config: { Env: ['A=1'], ExposedPorts: { '80/tcp': {} }, Labels: { a: 'b' } },
      rootfs: { type: 'layers', diff_ids: [D('c')] }, history: [{ created_by: 'x', empty_layer: true }],
    });
  });

  it('rejects invalid ones, saying where', async () => {
    const cases: [Parameters<typeof validateJson>[0], unknown, RegExp][] = [
      ['layout', {}, /imageLayoutVersion/],
      ['manifest', { schemaVersion: 2, config, layers: [{ ...layer, digest: 'md5:zz!' }] }, /\/layers\/0\/digest/],
      ['manifest', { schemaVersion: 1, config, layers: [layer] }, /schemaVersion/],
      ['manifest', { schemaVersion: 2, config: { digest: D('b') }, layers: [layer] }, /\/config/],
      ['index', { schemaVersion: 2, manifests: [{ ...config, platform: { os: 'linux' } }] }, /architecture/],
      ['config', { architecture: 'amd64', os: 'linux', created: 'yesterday', rootfs: { type: 'layers', diff_ids: [] } }, /created/],
      ['config', { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Env: 'A=1' } }, /Env/],
    ];
    for (const [kind, value, re] of cases) {
      const e = await ociFailure(() => validateJson(kind, value, 'the-file'));
      expect(e.code).toBe('INVALID_JSON');
      expect(e.message).toMatch(re);
      expect(e.path).toBe('the-file');
    }
  });
});

describe('validateLayout', () => {
  async function written(): Promise<{ dir: string; img: Image }> {
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const layer = await storeLayer(Readable.from([tarFrom([{ name: 'a', content: 'a\n' }])]), layout.blobs);
    const img = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), { layer, history: { created_by: 'a' } });
    await layout.writeImage(img, { tag: 't' });
    return { dir, img };
  }

  it('accepts the fixture layouts', async () => {
    await validateLayout(fixture('busybox'));
  });

  it('finds stray temp files, corrupt unreferenced blobs and wrong sizes', async () => {
    const { dir, img } = await written();
    await validateLayout(dir);
    await writeFile(join(dir, 'blobs/sha256/.tmp-0123'), 'half');
    await writeFile(join(dir, 'blobs/sha256', D('e').slice(7)), 'not e');
    const e = await ociFailure(validateLayout(dir));
    expect(e.code).toBe('INVALID_LAYOUT');
    expect(e.path).toBe(dir);
    expect(e.message).toContain('.tmp-0123');
    expect(e.message).toContain(D('e'));

    const { dir: dir2 } = await written();
    const layerPath = join(dir2, 'blobs/sha256', img.layers[0]!.descriptor.digest.slice(7));
    await writeFile(layerPath, Buffer.concat([await readFile(layerPath), Buffer.from('x')]));
    const e2 = await ociFailure(validateLayout(dir2));
    expect(e2.message).toContain(layerPath);
  });

  it('checks Docker schema2 images by structure: Docker layer types, layers ↔ diff_ids', async () => {
    const dir = await tmpDir();
    const layout = await OciLayout.create(dir);
    const layer = await storeLayer(Readable.from([tarFrom([{ name: 'a' }])]), layout.blobs);
    const cfg = (diffIDs: string[]) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs } }));
    const manifest = (rawConfig: Buffer, layerType: string) => Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, size: rawConfig.length, digest: sha256(rawConfig) },
      layers: [{ ...layer.descriptor, mediaType: layerType }],
    }));
    const good = cfg([layer.diffID]);
    const dockerLayer = { ...layer, descriptor: { ...layer.descriptor, mediaType: MediaType.DockerLayerGzip } };
    await layout.writeImage(fromParts(manifest(good, MediaType.DockerLayerGzip), good, [dockerLayer]), { tag: 'ok' });
    await validateLayout(dir);

    // An OCI gzip layer type inside a Docker manifest, and a config with a diff_id too many.
    const bad = cfg([layer.diffID, layer.diffID]);
    const rawManifest = manifest(bad, MediaType.OciLayerGzip);
    await layout.blobs.put(bad);
    await layout.blobs.put(rawManifest);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: unknown[] };
    index.manifests.push({ mediaType: MediaType.DockerManifest, digest: sha256(rawManifest), size: rawManifest.length });
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    const e = await ociFailure(validateLayout(dir));
    expect(e.message).toContain('OCI media type');
    expect(e.message).toContain('1 layers but 2 diff_ids');
  });
});
