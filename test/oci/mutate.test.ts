import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  appendHistory, appendLayers, DirBlobStore, emptyImage, fromParts, MediaType, sha256, storeLayer, validateJson,
  withConfigFile, withContainerConfig, withCreated, type Image, type Layer,
} from '../../oci/index.js';
import { tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { ociFailure, readAll } from './oci-helpers.js';

async function layer(store: DirBlobStore, name: string, opts: { compression?: 'gzip' | 'none' } = {}): Promise<Layer> {
  return storeLayer(Readable.from([tarFrom([{ name, content: `content of ${name}\n` }])]), store, opts);
}

/** A base image whose JSON is pretty-printed and carries fields we do not model (as real images do). */
async function dockerBase(store: DirBlobStore): Promise<{ img: Image; base: Layer }> {
  const base = await layer(store, 'base.txt');
  const config = {
    architecture: 'amd64', os: 'linux', created: '2024-01-02T03:04:05Z',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'], 'X-Unknown': { keep: true } },
    rootfs: { type: 'layers', diff_ids: [base.diffID] },
    history: [{ created: '2024-01-02T03:04:05Z', created_by: 'ADD base' }],
    'moby.buildkit.buildinfo.v1': 'e30=',
  };
  const rawConfig = Buffer.from(JSON.stringify(config, null, 3) + '\n');
  const manifest = {
    schemaVersion: 2, mediaType: MediaType.DockerManifest,
    config: { mediaType: MediaType.DockerConfig, size: rawConfig.length, digest: sha256(rawConfig) },
    layers: [{ mediaType: MediaType.DockerLayerGzip, size: base.descriptor.size, digest: base.descriptor.digest, annotations: { 'x.keep': 'yes' } }],
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest, null, 3));
  const dockerBaseLayer: Layer = { ...base, descriptor: { ...base.descriptor, mediaType: MediaType.DockerLayerGzip, annotations: { 'x.keep': 'yes' } } };
  return { img: fromParts(rawManifest, rawConfig, [dockerBaseLayer]), base: dockerBaseLayer };
}

function checkConsistent(img: Image): void {
  expect(img.digest).toBe(sha256(img.rawManifest));
  expect(JSON.parse(img.rawManifest.toString())).toEqual(img.manifest);
  expect(JSON.parse(img.rawConfig.toString())).toEqual(img.config);
  expect(img.manifest.config.digest).toBe(sha256(img.rawConfig));
  expect(img.manifest.config.size).toBe(img.rawConfig.length);
  expect(img.layers.map((l) => l.descriptor)).toEqual(img.manifest.layers);
  expect(img.layers.map((l) => l.diffID)).toEqual(img.config.rootfs.diff_ids);
}

describe('fromParts', () => {
  it('keeps raw bytes and digests as they are', async () => {
    const { img } = await dockerBase(new DirBlobStore(await tmpDir()));
    checkConsistent(img);
    expect(img.manifestMediaType).toBe(MediaType.DockerManifest);
    expect(img.rawManifest.toString()).toContain('\n   "schemaVersion"');
  });

  it('refuses parts that do not belong together', async () => {
    const store = new DirBlobStore(await tmpDir());
    const { img, base } = await dockerBase(store);
    const other = await layer(store, 'other');
    const wrongConfig = Buffer.concat([img.rawConfig, Buffer.from(' ')]);
    expect((await ociFailure(() => fromParts(img.rawManifest, wrongConfig, [base]))).code).toBe('DIGEST_MISMATCH');
    expect((await ociFailure(() => fromParts(img.rawManifest, img.rawConfig, []))).code).toBe('INVALID_JSON');
    expect((await ociFailure(() => fromParts(img.rawManifest, img.rawConfig, [other]))).code).toBe('INVALID_JSON');
    const wrongDiff: Layer = { ...base, diffID: other.diffID };
    const e = await ociFailure(() => fromParts(img.rawManifest, img.rawConfig, [wrongDiff]));
    expect(e.code).toBe('INVALID_JSON');
    expect(e.message).toContain('diffID');
    expect((await ociFailure(() => fromParts(Buffer.from('{not json'), img.rawConfig, [base]))).code).toBe('INVALID_JSON');
    expect((await ociFailure(() => fromParts(Buffer.from('{"schemaVersion":2}'), img.rawConfig, [base]))).code).toBe('INVALID_JSON');
  });

  it('parsed manifest and config are frozen (mutation goes through mutate)', async () => {
    const { img } = await dockerBase(new DirBlobStore(await tmpDir()));
    expect(() => (img.manifest.layers as unknown[]).push({})).toThrow(TypeError);
    expect(() => {
      (img.config.config as Record<string, unknown>).User = 'root';
    }).toThrow(TypeError);
  });
});

describe('mutations', () => {
  it('appendLayers adds descriptors, diff_ids and history, leaving the base untouched', async () => {
    const store = new DirBlobStore(await tmpDir());
    const { img } = await dockerBase(store);
    const before = { manifest: Buffer.from(img.rawManifest), config: Buffer.from(img.rawConfig) };
    const l1 = await layer(store, 'one');
    const l2 = await layer(store, 'two', { compression: 'none' });
    const out = appendLayers(img, { layer: l1, history: { created_by: 'RUN one' } }, { layer: l2 });
    checkConsistent(out);
    expect(out.layers).toHaveLength(3);
    expect(out.config.rootfs.diff_ids).toEqual([img.layers[0]!.diffID, l1.diffID, l2.diffID]);
    expect(out.config.history).toEqual([{ created: '2024-01-02T03:04:05Z', created_by: 'ADD base' }, { created_by: 'RUN one' }, {}]);
    // Unknown fields survive, the untouched base descriptor keeps its annotations.
    expect(out.config['moby.buildkit.buildinfo.v1']).toBe('e30=');
    expect(out.config.config?.['X-Unknown']).toEqual({ keep: true });
    expect(out.manifest.layers[0]).toEqual(img.manifest.layers[0]);
    // Docker schema2 image: the new gzip layer is listed with the Docker type; a plain tar stays OCI (Docker has none).
    expect(out.manifest.layers[1]!.mediaType).toBe(MediaType.DockerLayerGzip);
    expect(out.manifest.layers[2]!.mediaType).toBe(MediaType.OciLayer);
    expect(out.layers[1]!.descriptor.digest).toBe(l1.descriptor.digest);
    expect(await readAll(await out.layers[1]!.open())).toEqual(await readAll(await l1.open()));
    // The input image is unchanged.
    expect(img.rawManifest).toEqual(before.manifest);
    expect(img.rawConfig).toEqual(before.config);
    expect(img.layers).toHaveLength(1);
    expect(appendLayers(img)).toBe(img);
  });

  it('in an OCI image a Docker-typed gzip layer is listed with the OCI type', async () => {
    const store = new DirBlobStore(await tmpDir());
    const docker = await storeLayer(Readable.from([tarFrom([{ name: 'd' }])]), store, { mediaType: MediaType.DockerLayerGzip });
    const out = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), { layer: docker, history: { created_by: 'x' } });
    expect(out.manifest.layers[0]!.mediaType).toBe(MediaType.OciLayerGzip);
    checkConsistent(out);
    validateJson('manifest', out.manifest);
    validateJson('config', out.config);
  });

  it('refuses an empty_layer history entry for a real layer', async () => {
    const store = new DirBlobStore(await tmpDir());
    const l = await layer(store, 'x');
    const e = await ociFailure(() => appendLayers(emptyImage(), { layer: l, history: { created_by: 'ENV', empty_layer: true } }));
    expect(e.code).toBe('INVALID_JSON');
    expect(e.digest).toBe(l.descriptor.digest);
  });

  it('appendHistory, withContainerConfig, withConfigFile, withCreated', async () => {
    const store = new DirBlobStore(await tmpDir());
    const { img } = await dockerBase(store);
    const a = appendHistory(img, { created_by: 'ENV A=1', empty_layer: true });
    checkConsistent(a);
    expect(a.config.history).toHaveLength(2);
    expect(a.manifest.layers).toEqual(img.manifest.layers);
    expect(a.manifest.config.digest).not.toBe(img.manifest.config.digest);

    const b = withContainerConfig(a, (c) => ({ ...c, Env: [...(c.Env ?? []), 'A=1'], User: '1000:1000' }));
    checkConsistent(b);
    expect(b.config.config?.Env).toEqual(['PATH=/usr/bin:/bin', 'A=1']);
    expect(b.config.config?.User).toBe('1000:1000');
    expect(a.config.config?.User).toBeUndefined();

    // The callback gets a private copy: editing it in place is fine and does not touch the input.
    const c = withConfigFile(b, (cfg) => {
      cfg.author = 'cnb';
      cfg.config!.Labels = { 'io.buildpacks.rebasable': 'false' };
      return cfg;
    });
    checkConsistent(c);
    expect(c.config.author).toBe('cnb');
    expect(b.config.author).toBeUndefined();
    const e = await ociFailure(() => withConfigFile(b, (cfg) => ({ ...cfg, rootfs: { type: 'layers', diff_ids: [] } })));
    expect(e.code).toBe('INVALID_JSON');

    const d = withCreated(c, '0001-01-01T00:00:00Z');
    checkConsistent(d);
    expect(d.config.created).toBe('0001-01-01T00:00:00Z');
    expect((await ociFailure(() => withCreated(c, 'yesterday'))).code).toBe('INVALID_JSON');

    // Changed documents are compact JSON, serialised once; the manifest's unchanged parts are kept.
    expect(d.rawConfig.toString()).toBe(JSON.stringify(d.config));
    expect(d.manifest.layers[0]!.annotations).toEqual({ 'x.keep': 'yes' });
    expect(d.manifestMediaType).toBe(MediaType.DockerManifest);
  });

  it('emptyImage is FROM scratch for a platform; with a layer it is a schema-valid OCI image', async () => {
    const store = new DirBlobStore(await tmpDir());
    const e = emptyImage({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    checkConsistent(e);
    expect(e.layers).toEqual([]);
    expect(e.config).toMatchObject({ os: 'linux', architecture: 'arm64', variant: 'v8', rootfs: { type: 'layers', diff_ids: [] } });
    expect(e.manifestMediaType).toBe(MediaType.OciManifest);
    validateJson('config', e.config);
    expect(emptyImage().config.os).toBe('linux');
    const one = appendLayers(e, { layer: await layer(store, 'f'), history: { created_by: 'COPY f' } });
    validateJson('manifest', one.manifest);
    validateJson('config', one.config);
  });
});
