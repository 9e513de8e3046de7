// Registry.downloadBlob (what pull uses): one verified file per blob, large ones in parallel Range
// requests. Faults injected in the in-process fake registry, in the whole-blob path and in one
// range of a split blob: resets, short bodies, a server that ignores Range or sends more than asked.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isOciError, isRegistryError, validateLayout, type Registry } from '../../../oci/index.js';
import { FakeRegistry } from '../../helpers/fake-registry.js';
import { tmpDir } from '../../helpers/tmp.js';
import { memoryImage, pseudoRandom } from './images.js';
import { clientFor, rejection, seed } from './support.js';

let fake: FakeRegistry;
let reg: Registry | undefined;
afterEach(async () => {
  await reg?.close();
  reg = undefined;
  await fake.close();
});

// A layer of ~2 MiB incompressible bytes; split at 256 KiB it is 4 ranges of ~512 KiB.
const img = memoryImage({ layers: [{ 'etc/a': 'a\n' }, { 'etc/b': 'b\n' }], pad: 2 * 1024 * 1024, label: 'ranges' });
const layer = img.layers[1]!.descriptor;
const bytes = img.blobs.get(layer.digest)!;
const blobPath = new RegExp(`/blobs/${layer.digest}$`);
const SPLIT = 256 * 1024;
const partSize = Math.ceil(layer.size / 4);
const partStart = (i: number): number => i * partSize;
/** The Range header of the first request for part i (exact, so faults can target one part). */
const partRange = (i: number): RegExp => new RegExp(`^bytes=${partStart(i)}-`);

async function start(opts: ConstructorParameters<typeof FakeRegistry>[0] = {}): Promise<Registry> {
  fake = await FakeRegistry.start(opts);
  seed(fake, 'a/b', 't', img);
  reg = clientFor(fake.host);
  return reg;
}

const ranges = (): (string | undefined)[] => fake.requestsTo('registry', blobPath).map((r) => r.headers.range);

async function download(r: Registry, splitThreshold: number, signal?: AbortSignal): Promise<{ file: string; progress: number }> {
  const file = join(await tmpDir(), 'blob');
  let progress = 0;
  await r.downloadBlob(`${fake.host}/a/b`, layer, file, { splitThreshold, onBytes: (n) => (progress += n), signal });
  return { file, progress };
}

async function expectExact(file: string): Promise<void> {
  expect((await readFile(file)).equals(bytes)).toBe(true);
}

describe('split into parallel ranges', () => {
  it('a large blob is fetched as 4 ranges, exact bytes, progress counts each byte once', async () => {
    const r = await start();
    const { file, progress } = await download(r, SPLIT);
    await expectExact(file);
    expect(progress).toBe(layer.size);
    const rs = ranges();
    expect(rs[0]).toBe(`bytes=0-${partSize - 1}`);
    expect(new Set(rs.slice(1))).toEqual(new Set([`bytes=${partStart(1)}-${partStart(2) - 1}`, `bytes=${partStart(2)}-${partStart(3) - 1}`, `bytes=${partStart(3)}-`]));
  });

  it('below the threshold (or with splitting off) the blob is one GET without Range', async () => {
    const r = await start();
    await expectExact((await download(r, layer.size + 1)).file);
    await expectExact((await download(r, 0)).file);
    expect(ranges()).toEqual([undefined, undefined]);
  });

  it('a server that ignores Range answers the first range with the whole blob: one request, no split', async () => {
    const r = await start({ ranges: false });
    const { file, progress } = await download(r, SPLIT);
    await expectExact(file);
    expect(progress).toBe(layer.size);
    expect(ranges()).toEqual([`bytes=0-${partSize - 1}`]);
  });

  it('a reset in one range resumes that range from its last byte', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { resetAfter: 100_000 }, 1, partRange(2));
    const { file, progress } = await download(r, SPLIT);
    await expectExact(file);
    expect(progress).toBe(layer.size);
    const rs = ranges();
    expect(rs).toHaveLength(5);
    const resumed = rs.filter((x) => x !== undefined && new RegExp(`^bytes=(\\d+)-${partStart(3) - 1}$`).test(x)).map((x) => Number(/=(\d+)-/.exec(x!)![1]));
    expect(resumed.sort((a, b) => a - b)[0]).toBe(partStart(2));
    expect(resumed.some((s) => s > partStart(2))).toBe(true);
  });

  it('a short body in the first range and in the last is resumed', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { truncateAfter: 50_000 }, 1, partRange(0));
    fake.inject('GET', blobPath, { truncateAfter: 70_000 }, 1, partRange(3));
    await expectExact((await download(r, SPLIT)).file);
    expect(ranges()).toHaveLength(6);
  });

  it('a server that answers one range with 200 and the whole blob: the bytes outside the range are dropped', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { ignoreRange: true }, 1, partRange(1));
    await expectExact((await download(r, SPLIT)).file);
  });

  it('a server that sends more than the range asked for: the rest is not written', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { ignoreRangeEnd: true }, 3, /^bytes=\d+-\d+$/);
    await expectExact((await download(r, SPLIT)).file);
  });

  it('a Content-Range that does not start where asked fails with REGISTRY, not retried', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { status: 206, headers: { 'content-range': `bytes 7-100/${layer.size}` }, body: 'x'.repeat(94) }, 1, partRange(2));
    const e = await rejection(download(r, SPLIT));
    expect(isRegistryError(e)).toBe(true);
    expect((e as { code?: string }).code).toBe('REGISTRY');
    expect(ranges().filter((x) => x !== undefined && partRange(2).test(x))).toHaveLength(1);
  });

  it('wrong bytes in one range fail the whole blob with DIGEST_MISMATCH', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { serve: pseudoRandom(layer.size, 'evil') }, 1, partRange(3));
    expect(isOciError(await rejection(download(r, SPLIT)), 'DIGEST_MISMATCH')).toBe(true);
  });

  it('a range that keeps failing gives up after the attempts (shared by the ranges) and stops the others', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { status: 503 }, 100, partRange(1));
    const e = await rejection(download(r, SPLIT));
    expect(isRegistryError(e)).toBe(true);
    expect((e as { status?: number }).status).toBe(503);
    expect(ranges().filter((x) => x !== undefined && partRange(1).test(x))).toHaveLength(4);
  });

  it('pull splits large layers and writes a valid layout; a reset in a range is resumed', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { resetAfter: 30_000 }, 1, partRange(1));
    const dir = join(await tmpDir(), 'img');
    const res = await r.pull(`${fake.host}/a/b:t`, dir, { splitThreshold: SPLIT });
    expect(res.descriptor.digest).toBe(img.digest);
    await validateLayout(dir);
    expect((await readFile(join(dir, 'blobs', 'sha256', layer.digest.slice(7)))).equals(bytes)).toBe(true);
    expect(ranges()).toHaveLength(5);
  });

  it('a failed split pull leaves nothing behind', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { serve: pseudoRandom(layer.size, 'evil') }, 1, partRange(2));
    const parent = await tmpDir();
    expect(isOciError(await rejection(r.pull(`${fake.host}/a/b:t`, join(parent, 'img'), { splitThreshold: SPLIT })), 'DIGEST_MISMATCH')).toBe(true);
    expect(await readdir(parent)).toEqual([]);
  });

  it('an abort while ranges wait on retries rejects at once', async () => {
    await start();
    reg = clientFor(fake.host, { retry: { attempts: 5, baseDelayMs: 5000, maxDelayMs: 5000 } });
    fake.inject('GET', blobPath, { status: 503 }, 100, partRange(3));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const t0 = Date.now();
    const e = await rejection(download(reg, SPLIT, ac.signal));
    expect((e as Error).name).toBe('AbortError');
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

describe('whole-blob path', () => {
  it('a reset is resumed with an open-ended Range', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { resetAfter: 300_000 });
    const { file, progress } = await download(r, 0);
    await expectExact(file);
    expect(progress).toBe(layer.size);
    const rs = ranges();
    expect(rs[0]).toBeUndefined();
    expect(rs[1]).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('a close-delimited body that ends early is caught by the size and resumed', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { closeDelimitedAfter: 90_000 }, 2);
    await expectExact((await download(r, 0)).file);
    expect(ranges()).toEqual([undefined, 'bytes=90000-', 'bytes=180000-']);
  });

  it('a blob longer than its descriptor fails with SIZE_MISMATCH', async () => {
    const r = await start();
    fake.inject('GET', blobPath, { serve: Buffer.concat([bytes, Buffer.from('extra')]) });
    expect(isOciError(await rejection(download(r, 0)), 'SIZE_MISMATCH')).toBe(true);
  });

  it('the file must not exist: an existing one is left alone', async () => {
    const r = await start();
    const file = join(await tmpDir(), 'blob');
    await r.downloadBlob(`${fake.host}/a/b`, layer, file, { splitThreshold: 0 });
    const before = await stat(file);
    await expect(r.downloadBlob(`${fake.host}/a/b`, layer, file, { splitThreshold: 0 })).rejects.toMatchObject({ code: 'IO', cause: { code: 'EEXIST' } });
    expect((await stat(file)).mtimeMs).toBe(before.mtimeMs);
  });
});
