// What a real registry cannot be made to do, injected in the in-process fake: 5xx and 429, resets
// and truncation mid-blob (resumed with Range), wrong digests, redirects to another host.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isOciError, isRegistryError, OciLayout, Registry, staticKeychain, validateLayout, type PullProgress } from '../../../oci/index.js';
import { FakeBlobHost, FakeRegistry } from '../../helpers/fake-registry.js';
import { indexOf, memoryImage, pseudoRandom } from './images.js';
import { clientFor, errorText, readAll, recordingLogger, rejection, seed } from './support.js';
import { tmpDir } from '../../helpers/tmp.js';

let fake: FakeRegistry;
let blobHost: FakeBlobHost | undefined;
let reg: Registry | undefined;
afterEach(async () => {
  await reg?.close();
  reg = undefined;
  await blobHost?.close();
  blobHost = undefined;
  await fake.close();
});

// One layer big enough (512 KiB of incompressible bytes) that a reset lands mid-body.
const big = memoryImage({ layers: [{ 'etc/a': 'a\n' }, { 'etc/b': 'b\n' }], pad: 512 * 1024, label: 'big' });
const bigLayer = big.layers[1]!;
const blobPath = (d: string): RegExp => new RegExp(`/blobs/${d}$`);

async function start(opts: ConstructorParameters<typeof FakeRegistry>[0] = {}): Promise<Registry> {
  fake = await FakeRegistry.start(opts);
  seed(fake, 'a/b', 't', big);
  reg = clientFor(fake.host);
  return reg;
}

describe('retries', () => {
  it('503 twice, then success', async () => {
    const r = await start();
    fake.inject('GET', /\/manifests\/t$/, { status: 503 }, 2);
    expect((await r.manifest(`${fake.host}/a/b:t`)).digest).toBe(big.digest);
    expect(fake.requestsTo('registry', /\/manifests\/t$/)).toHaveLength(3);
  });

  it('429 honours Retry-After (seconds)', async () => {
    fake = await FakeRegistry.start();
    seed(fake, 'a/b', 't', big);
    reg = clientFor(fake.host, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5000 } });
    fake.inject('GET', /\/manifests\/t$/, { status: 429, headers: { 'retry-after': '1' } });
    const t0 = Date.now();
    await reg.manifest(`${fake.host}/a/b:t`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('gives up after the configured attempts with a temporary RegistryError carrying status and diagnostics', async () => {
    const r = await start();
    fake.inject('GET', /\/manifests\/t$/, { status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"storage down"}]}', headers: { 'content-type': 'application/json' } }, 100);
    const e = await rejection(r.manifest(`${fake.host}/a/b:t`));
    expect(isRegistryError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'REGISTRY', status: 500, temporary: true, errors: [{ code: 'UNKNOWN', message: 'storage down' }] });
    expect((e as Error).message).toContain('storage down');
    expect(fake.requestsTo('registry', /\/manifests\/t$/)).toHaveLength(4);
  });

  it('does not retry a 404 (NOT_FOUND) or a 400', async () => {
    const r = await start();
    const e = await rejection(r.manifest(`${fake.host}/a/b:nope`));
    expect(e).toMatchObject({ code: 'NOT_FOUND', status: 404, temporary: false });
    expect(fake.requestsTo('registry', /\/manifests\/nope$/)).toHaveLength(1);
    fake.inject('GET', /\/manifests\/t$/, { status: 400 }, 5);
    expect(await rejection(r.manifest(`${fake.host}/a/b:t`))).toMatchObject({ code: 'REGISTRY', status: 400 });
    expect(fake.requestsTo('registry', /\/manifests\/t$/)).toHaveLength(1);
  });

  it('an AbortSignal stops the backoff at once', async () => {
    fake = await FakeRegistry.start();
    seed(fake, 'a/b', 't', big);
    reg = clientFor(fake.host, { retry: { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 } });
    fake.inject('GET', /\/manifests\/t$/, { status: 503 }, 10);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const t0 = Date.now();
    const e = await rejection(reg.manifest(`${fake.host}/a/b:t`, { signal: ac.signal }));
    expect((e as Error).name).toBe('AbortError');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('pushes retry a 5xx on the upload PUT', async () => {
    fake = await FakeRegistry.start();
    reg = clientFor(fake.host);
    fake.inject('PUT', /\/blobs\/uploads\//, { status: 502 }, 1);
    await reg.write(`${fake.host}/x/y:1`, big);
    expect(fake.manifests.get('x/y')?.get('1')?.raw.equals(big.rawManifest)).toBe(true);
  });
});

describe('blob downloads', () => {
  const rangeOf = (f: FakeRegistry): (string | undefined)[] => f.requestsTo('registry', blobPath(bigLayer.descriptor.digest)).map((r) => r.headers.range);

  it('a connection reset mid-blob resumes with Range and delivers exact bytes', async () => {
    const r = await start();
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { resetAfter: 128 * 1024 });
    const got = await readAll(r.openBlob(`${fake.host}/a/b`, bigLayer.descriptor));
    expect(got.equals(big.blobs.get(bigLayer.descriptor.digest)!)).toBe(true);
    const ranges = rangeOf(fake);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('a server ignoring Range sends it all again; the bytes already delivered are skipped', async () => {
    const r = await start({ ranges: false });
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { resetAfter: 100_000 });
    const got = await readAll(r.openBlob(`${fake.host}/a/b`, bigLayer.descriptor));
    expect(got.equals(big.blobs.get(bigLayer.descriptor.digest)!)).toBe(true);
    expect(rangeOf(fake)).toHaveLength(2);
  });

  it('a body shorter than its Content-Length is resumed', async () => {
    const r = await start();
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { truncateAfter: 70_000 });
    const got = await readAll(r.openBlob(`${fake.host}/a/b`, bigLayer.descriptor));
    expect(got.equals(big.blobs.get(bigLayer.descriptor.digest)!)).toBe(true);
    expect(rangeOf(fake)[1]).toMatch(/^bytes=\d+-$/);
  });

  it('a close-delimited body that ends early is caught by the descriptor size and resumed', async () => {
    const r = await start();
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { closeDelimitedAfter: 90_000 }, 2);
    const got = await readAll(r.openBlob(`${fake.host}/a/b`, bigLayer.descriptor));
    expect(got.equals(big.blobs.get(bigLayer.descriptor.digest)!)).toBe(true);
    expect(rangeOf(fake)).toEqual([undefined, 'bytes=90000-', 'bytes=180000-']);
  });

  it('a blob with the wrong content fails with DIGEST_MISMATCH and is not retried', async () => {
    const r = await start();
    const wrong = pseudoRandom(bigLayer.descriptor.size, 'evil');
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { serve: wrong }, 10);
    const e = await rejection(readAll(await (await r.image(`${fake.host}/a/b:t`)).layers[1]!.open()));
    expect(isOciError(e, 'DIGEST_MISMATCH')).toBe(true);
    expect((e as { digest?: string }).digest).toBe(bigLayer.descriptor.digest);
    expect(rangeOf(fake)).toHaveLength(1);
  });

  it('a blob longer than its descriptor fails with SIZE_MISMATCH', async () => {
    const r = await start();
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { serve: pseudoRandom(bigLayer.descriptor.size + 10, 'x') });
    expect(isOciError(await rejection(readAll(r.openBlob(`${fake.host}/a/b`, bigLayer.descriptor))), 'SIZE_MISMATCH')).toBe(true);
  });

  it('gives up on a blob that keeps resetting', async () => {
    const r = await start();
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { resetAfter: 1000 }, 100);
    await expect(readAll(r.openBlob(`${fake.host}/a/b`, bigLayer.descriptor))).rejects.toThrow();
    expect(rangeOf(fake)).toHaveLength(4);
  });

  it('follows a redirect to another host without forwarding Authorization; signed URLs stay out of errors', async () => {
    const PASSWORD = 'redirect-S3cret';
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', users: { u: PASSWORD } } });
    seed(fake, 'a/b', 't', big);
    blobHost = await FakeBlobHost.start(fake);
    fake.redirectBlobsTo = blobHost.url;
    const log = recordingLogger();
    reg = clientFor(fake.host, { keychain: staticKeychain({ [fake.host]: { kind: 'basic', username: 'u', password: PASSWORD } }), log });
    const img = await reg.image(`${fake.host}/a/b:t`);
    for (const l of img.layers) expect((await readAll(await l.open())).length).toBe(l.descriptor.size);
    expect(blobHost.requests.length).toBe(3); // config + 2 layers
    for (const q of blobHost.requests) {
      expect(q.headers.authorization).toBeUndefined();
      expect(q.url).toContain('X-Signature=');
    }
    expect(fake.requestsTo('registry', /\/blobs\//).every((q) => q.headers.authorization?.startsWith('Bearer '))).toBe(true);
    // A blob the storage host has lost: the error names the host and path, never the signature.
    blobHost.missing.add(bigLayer.descriptor.digest);
    const e = await rejection(readAll(reg.openBlob(`${fake.host}/a/b`, bigLayer.descriptor)));
    expect(e).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect((e as Error).message).toContain(`${blobHost.url}/blobs/${bigLayer.descriptor.digest}`);
    const everything = `${errorText(e)}\n${log.lines.join('\n')}`;
    expect(everything).not.toContain('secret-signature');
    expect(everything).not.toContain(PASSWORD);
  });
});

describe('manifests and platforms', () => {
  it('a manifest whose bytes do not match the digest asked for is rejected', async () => {
    const r = await start();
    const other = memoryImage({ layers: [{ x: 'y' }], label: 'other' });
    fake.manifests.get('a/b')!.set(big.digest, { raw: other.rawManifest, mediaType: other.manifestMediaType });
    const e = await rejection(r.manifest(`${fake.host}/a/b@${big.digest}`));
    expect(isOciError(e, 'DIGEST_MISMATCH')).toBe(true);
  });

  it('an index resolves to the manifest of the wanted platform (variant-aware), else IMAGE_NOT_FOUND', async () => {
    fake = await FakeRegistry.start();
    const amd = memoryImage({ layers: [{ arch: 'amd64' }], label: 'amd64' });
    const arm = memoryImage({ layers: [{ arch: 'arm64' }], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, label: 'arm64' });
    const armv7 = memoryImage({ layers: [{ arch: 'arm' }], platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, label: 'armv7' });
    for (const i of [amd, arm, armv7]) seed(fake, 'multi', undefined, i);
    const idx = indexOf([amd, arm, armv7]);
    fake.addManifest('multi', 'latest', idx.raw, idx.mediaType);
    reg = clientFor(fake.host, { platform: { os: 'linux', architecture: 'amd64' } });
    expect((await reg.image(`${fake.host}/multi`)).digest).toBe(amd.digest);
    expect((await reg.image(`${fake.host}/multi`, { platform: { os: 'linux', architecture: 'arm64' } })).digest).toBe(arm.digest);
    const got = await reg.image(`${fake.host}/multi`, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    expect(got.digest).toBe(armv7.digest);
    expect(got.reference.toString()).toBe(`${fake.host}/multi@${armv7.digest}`);
    expect(got.config.architecture).toBe('arm');
    const e = await rejection(reg.image(`${fake.host}/multi`, { platform: { os: 'linux', architecture: 's390x' } }));
    expect(isOciError(e, 'IMAGE_NOT_FOUND')).toBe(true);
    expect((e as Error).message).toContain('linux/amd64, linux/arm64/v8, linux/arm/v7');
    expect((await reg.manifest(`${fake.host}/multi`)).mediaType).toBe(idx.mediaType);
    const accept = fake.requestsTo('registry', /\/manifests\/latest$/)[0]!.headers.accept!;
    for (const t of ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json']) expect(accept).toContain(t);
  });
});

describe('push', () => {
  it('skips blobs the registry has (HEAD only on the second push)', async () => {
    fake = await FakeRegistry.start();
    reg = clientFor(fake.host);
    await reg.write(`${fake.host}/p/q:1`, big);
    const before = fake.requests.length;
    await reg.write(`${fake.host}/p/q:2`, big);
    const second = fake.requests.slice(before).filter((q) => q.url.includes('/blobs/'));
    expect(second.map((q) => q.method)).toEqual(Array(big.blobs.size).fill('HEAD'));
  });

  it('chunked upload: PATCHes with consecutive Content-Ranges, then PUT ?digest=', async () => {
    fake = await FakeRegistry.start();
    reg = clientFor(fake.host, { chunkSize: 200 * 1024 });
    const res = await reg.putBlob(`${fake.host}/c/d`, { digest: bigLayer.descriptor.digest, size: bigLayer.descriptor.size, open: () => bigLayer.open() });
    expect(res).toBe('uploaded');
    const patches = fake.requests.filter((q) => q.method === 'PATCH');
    const size = bigLayer.descriptor.size;
    expect(patches.map((q) => q.headers['content-range'])).toEqual([`0-${200 * 1024 - 1}`, `${200 * 1024}-${400 * 1024 - 1}`, `${400 * 1024}-${size - 1}`]);
    const put = fake.requests.filter((q) => q.method === 'PUT').at(-1)!;
    expect(new URL(put.url, 'http://x').searchParams.get('digest')).toBe(bigLayer.descriptor.digest);
    expect(new URL(put.url, 'http://x').searchParams.get('_state')).not.toBeNull(); // Location's query kept
    expect(fake.blobs.get(bigLayer.descriptor.digest)?.equals(big.blobs.get(bigLayer.descriptor.digest)!)).toBe(true);
  });

  it('putManifest by digest and by tag; a reference digest that does not match the bytes is refused', async () => {
    fake = await FakeRegistry.start();
    reg = clientFor(fake.host);
    await reg.write(`${fake.host}/m/n@${big.digest}`, big);
    expect(fake.requests.filter((q) => q.method === 'PUT' && q.url.includes('/manifests/')).map((q) => q.url)).toEqual([`/v2/m/n/manifests/${big.digest}`]);
    expect(await reg.putManifest(`${fake.host}/m/n:tagged`, big.rawManifest, big.manifestMediaType)).toBe(big.digest);
    expect(fake.manifests.get('m/n')?.get('tagged')?.raw.equals(big.rawManifest)).toBe(true);
    const other = memoryImage({ layers: [{ z: 'z' }], label: 'z' });
    expect(isOciError(await rejection(reg.putManifest(`${fake.host}/m/n@${big.digest}`, other.rawManifest, other.manifestMediaType)), 'DIGEST_MISMATCH')).toBe(true);
    expect(await reg.hasBlob(`${fake.host}/m/n`, big.manifest.config.digest)).toBe(true);
    expect(await reg.hasBlob(`${fake.host}/m/n`, other.manifest.config.digest)).toBe(false);
  });
});

describe('pull into a layout', () => {
  it('a reset mid-layer is resumed; progress counts every byte once', async () => {
    const r = await start();
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { resetAfter: 200_000 });
    const dir = join(await tmpDir(), 'img');
    const events: PullProgress[] = [];
    const res = await r.pull(`${fake.host}/a/b:t`, dir, { onProgress: (p) => events.push(p) });
    expect(res.descriptor.digest).toBe(big.digest);
    await validateLayout(dir);
    expect(events.at(-1)).toMatchObject({ event: 'done', layersDone: 2, layersTotal: 2 });
    expect(events.at(-1)!.bytesDone).toBe(events.at(-1)!.bytesTotal);
    expect(Math.max(...events.map((e) => e.bytesDone))).toBe(events.at(-1)!.bytesTotal);
    expect(fake.requestsTo('registry', blobPath(bigLayer.descriptor.digest))).toHaveLength(2);
  });

  it('a wrong-digest blob fails the pull and nothing is written: no layout dir, no temp dir', async () => {
    const r = await start();
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { serve: pseudoRandom(bigLayer.descriptor.size, 'evil') }, 10);
    const parent = await tmpDir();
    const e = await rejection(r.pull(`${fake.host}/a/b:t`, join(parent, 'img')));
    expect(isOciError(e, 'DIGEST_MISMATCH')).toBe(true);
    expect(await readdir(parent)).toEqual([]);
  });

  it('into an existing layout: the bad blob is not stored and index.json is untouched', async () => {
    const r = await start();
    const dir = join(await tmpDir(), 'existing');
    await mkdir(dir);
    await OciLayout.create(dir);
    const indexBefore = await readFile(join(dir, 'index.json'));
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { serve: pseudoRandom(bigLayer.descriptor.size, 'evil') }, 1);
    expect(isOciError(await rejection(r.pull(`${fake.host}/a/b:t`, dir)), 'DIGEST_MISMATCH')).toBe(true);
    expect((await readFile(join(dir, 'index.json'))).equals(indexBefore)).toBe(true);
    const names = await readdir(join(dir, 'blobs', 'sha256'));
    expect(names).not.toContain(bigLayer.descriptor.digest.slice(7));
    expect(names.filter((n) => n.startsWith('.'))).toEqual([]);
    // The same pull, once the registry behaves, completes the layout.
    await r.pull(`${fake.host}/a/b:t`, dir);
    await validateLayout(dir);
  });

  it('an abort during the download rejects and leaves nothing behind', async () => {
    await start();
    const r = clientFor(fake.host, { retry: { attempts: 5, baseDelayMs: 5000, maxDelayMs: 5000 } });
    fake.inject('GET', blobPath(bigLayer.descriptor.digest), { status: 503 }, 100);
    const parent = await tmpDir();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const e = await rejection(r.pull(`${fake.host}/a/b:t`, join(parent, 'img'), { signal: ac.signal }));
    await r.close();
    expect((e as Error).name).toBe('AbortError');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await readdir(parent)).toEqual([]);
  });
});
