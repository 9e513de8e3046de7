// Integration with a real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1,
// checked against skopeo as an independent client.
import { execFileSync } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, OciLayout, Registry, validateLayout, type Image, type PullProgress } from '../../../oci/index.js';
import { fixture } from '../../helpers/fixtures.js';
import { useRegistry } from '../../helpers/registry.js';
import { tmpDir } from '../../helpers/tmp.js';
import { indexOf, memoryImage } from './images.js';
import { clientFor, readAll, recordingLogger } from './support.js';

const server = useRegistry();
let reg: Registry;
let busybox: Image;
beforeAll(async () => {
  reg = clientFor(server().host);
  busybox = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
});
afterAll(async () => {
  await reg?.close();
});

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function skopeoDigest(ref: string): string {
  return (JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${ref}`)) as { Digest: string }).Digest;
}

async function layoutManifestDigest(dir: string): Promise<string> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  expect(index.manifests).toHaveLength(1);
  return index.manifests[0]!.digest;
}

async function blobNames(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'blobs', 'sha256'))).sort();
}

describe('docker-registry, anonymous', () => {
  it('pushes the busybox fixture: skopeo sees the same manifest digest, and so does HEAD', async () => {
    const h = server().host;
    const desc = await reg.write(`${h}/fixtures/busybox:latest`, busybox);
    expect(desc.digest).toBe(busybox.digest);
    expect(skopeoDigest(`${h}/fixtures/busybox:latest`)).toBe(busybox.digest);
    expect(await reg.head(`${h}/fixtures/busybox:latest`)).toEqual({ mediaType: busybox.manifestMediaType, digest: busybox.digest, size: busybox.rawManifest.length });
    expect(await reg.checkReadAccess(`${h}/fixtures/busybox:latest`)).toBe(true);
    expect(await reg.checkReadAccess(`${h}/fixtures/busybox:nope`)).toBe(false);
    expect(await reg.checkReadAccess(`${h}/fixtures/nothing-here:latest`)).toBe(false);
  });

  it('pulls it back into a valid layout with digests and bytes preserved, reporting progress', async () => {
    const h = server().host;
    await reg.write(`${h}/fixtures/busybox:latest`, busybox);
    const dir = join(await tmpDir(), 'pulled');
    const events: PullProgress[] = [];
    const log = recordingLogger();
    const client = clientFor(h, { log });
    try {
      const res = await client.pull(`${h}/fixtures/busybox:latest`, dir, { onProgress: (p) => events.push(p) });
      expect(res.descriptor.digest).toBe(busybox.digest);
    } finally {
      await client.close();
    }
    await validateLayout(dir);
    expect(await layoutManifestDigest(dir)).toBe(busybox.digest);
    const src = fixture('busybox');
    expect(await blobNames(dir)).toEqual(await blobNames(src));
    for (const name of await blobNames(dir)) {
      expect((await readFile(join(dir, 'blobs', 'sha256', name))).equals(await readFile(join(src, 'blobs', 'sha256', name)))).toBe(true);
    }
    const pulled = await (await OciLayout.open(dir)).image({ tag: 'latest' });
    expect(pulled.rawConfig.equals(busybox.rawConfig)).toBe(true);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ event: 'done', layersDone: busybox.layers.length, layersTotal: busybox.layers.length });
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesTotal).toBe(busybox.layers.reduce((n, l) => n + l.descriptor.size, 0));
    expect(events.filter((e) => e.event === 'bytes').length).toBeGreaterThan(0);
    expect(log.lines.some((l) => l.startsWith('info: pulled layer 1/'))).toBe(true);
  });

  it('pulls the debian fixture pushed by skopeo; the manifest digest matches skopeo inspect', async () => {
    const h = server().host;
    skopeo('copy', '--dest-tls-verify=false', `oci:${fixture('debian')}:latest`, `docker://${h}/fixtures/debian:bookworm`);
    const expected = skopeoDigest(`${h}/fixtures/debian:bookworm`);
    const dir = join(await tmpDir(), 'debian');
    const res = await reg.pull(`${h}/fixtures/debian:bookworm`, dir);
    expect(res.descriptor.digest).toBe(expected);
    expect(await layoutManifestDigest(dir)).toBe(expected);
    await validateLayout(dir);
  });

  it('a sparse pull writes manifest and config only', async () => {
    const h = server().host;
    await reg.write(`${h}/fixtures/busybox:latest`, busybox);
    const dir = join(await tmpDir(), 'sparse');
    await reg.pull(`${h}/fixtures/busybox:latest`, dir, { layers: 'none', tag: 'base' });
    await validateLayout(dir, { allowMissingBlobs: true });
    expect(await blobNames(dir)).toEqual([busybox.digest, busybox.manifest.config.digest].map((d) => d.slice(7)).sort());
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    expect(index.manifests[0]!.annotations?.['org.opencontainers.image.ref.name']).toBe('base');
  });

  it('cross-repository mount and chunked upload against the real registry', async () => {
    const h = server().host;
    await reg.write(`${h}/fixtures/busybox:latest`, busybox);
    const layer = busybox.layers[0]!;
    const blob = { digest: layer.descriptor.digest, size: layer.descriptor.size, open: () => layer.open() };
    expect(await reg.putBlob(`${h}/mounted/busybox`, blob, { mountFrom: ['fixtures/busybox'] })).toBe('mounted');
    expect(await reg.putBlob(`${h}/mounted/busybox`, blob)).toBe('exists');
    const chunked = clientFor(h, { chunkSize: 64 * 1024 });
    try {
      expect(layer.descriptor.size).toBeGreaterThan(3 * 64 * 1024);
      expect(await chunked.putBlob(`${h}/chunked/busybox`, blob)).toBe('uploaded');
      await chunked.write(`${h}/chunked/busybox:v1`, busybox);
    } finally {
      await chunked.close();
    }
    expect(skopeoDigest(`${h}/chunked/busybox:v1`)).toBe(busybox.digest);
    expect((await readAll(reg.openBlob(`${h}/chunked/busybox`, layer.descriptor))).length).toBe(layer.descriptor.size);
  });

  it('a multi-platform index: pushed, read back byte-exact, pulled per platform like skopeo does', async () => {
    const h = server().host;
    const amd = memoryImage({ layers: [{ 'etc/arch': 'amd64\n' }], label: 'amd64' });
    const arm = memoryImage({ layers: [{ 'etc/arch': 'arm64\n' }, { 'etc/extra': 'x\n' }], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, label: 'arm64' });
    const idx = indexOf([amd, arm]);
    const desc = await reg.writeIndex(`${h}/multi/app:1`, { raw: idx.raw, mediaType: idx.mediaType, images: [amd, arm] });
    expect(desc.digest).toBe(idx.digest);
    expect(skopeoDigest(`${h}/multi/app:1`)).toBe(idx.digest);
    const raw = await reg.manifest(`${h}/multi/app:1`);
    expect(raw.raw.equals(idx.raw)).toBe(true);
    expect(raw.mediaType).toBe(MediaType.OciIndex);

    for (const [arch, img] of [['arm64', arm], ['amd64', amd]] as const) {
      const ours = join(await tmpDir(), `ours-${arch}`);
      await reg.pull(`${h}/multi/app:1`, ours, { platform: { os: 'linux', architecture: arch } });
      await validateLayout(ours);
      const theirs = join(await tmpDir(), `skopeo-${arch}`);
      skopeo('copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', arch, `docker://${h}/multi/app:1`, `oci:${theirs}:1`);
      expect(await layoutManifestDigest(ours)).toBe(img.digest);
      expect(await layoutManifestDigest(theirs)).toBe(img.digest);
      expect(await blobNames(ours)).toEqual(await blobNames(theirs));
    }
  });

  it('Docker schema2 images keep their media types through push and pull', async () => {
    const h = server().host;
    const img = memoryImage({ layers: [{ 'etc/os': 'docker\n' }], docker: true, label: 'docker' });
    await reg.write(`${h}/docker/img:v2`, img);
    const head = await reg.head(`${h}/docker/img:v2`);
    expect(head).toMatchObject({ mediaType: MediaType.DockerManifest, digest: img.digest });
    expect(skopeoDigest(`${h}/docker/img:v2`)).toBe(img.digest);
    const dir = join(await tmpDir(), 'docker');
    await reg.pull(`${h}/docker/img:v2`, dir);
    await validateLayout(dir);
    const got = await (await OciLayout.open(dir)).image();
    expect(got.manifestMediaType).toBe(MediaType.DockerManifest);
    expect(got.digest).toBe(img.digest);
  });
});
