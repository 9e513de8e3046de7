import { createHash } from 'node:crypto';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DirBlobStore, storeLayer, type Layer } from '../../oci/index.js';
import { stepCacheKey, StepKeyer, type StepKeyInput } from '../../src/extender/cache-key.js';
import { DirStepCache } from '../../src/extender/layer-cache.js';
import { entriesOf, tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;
const KEY = 'a'.repeat(64);

async function layerIn(dir: string, content: string): Promise<Layer> {
  return storeLayer(Readable.from([tarFrom([{ name: 'f', content, mtime: 1_700_000_000 }])]), new DirBlobStore(dir));
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('DirStepCache', () => {
  it('stores a layer (copying its blob) and gives it back, readable and verified', async () => {
    const work = await tmpDir();
    const dir = await tmpDir();
    const cache = new DirStepCache(dir, { ttlMs: HOUR });
    const layer = await layerIn(work, 'hello');
    expect(await cache.get(KEY)).toBeNull();
    await cache.put(KEY, layer);
    const hit = await cache.get(KEY);
    expect(hit).not.toBeNull();
    expect(hit).not.toBe('empty');
    const l = hit as Layer;
    expect(l.descriptor).toMatchObject({ digest: layer.descriptor.digest, size: layer.descriptor.size, mediaType: layer.descriptor.mediaType });
    expect(l.diffID).toBe(layer.diffID);
    const tar = await readAll(await l.openUncompressed());
    expect(entriesOf(tar).map((e) => [e.name, e.sha256])).toEqual([['f', createHash('sha256').update('hello').digest('hex')]]);
    // the blob now lives in the cache's own store
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toContain(layer.descriptor.digest.slice(7));
  });

  it("records 'empty' for a step that changed nothing", async () => {
    const cache = new DirStepCache(await tmpDir(), { ttlMs: HOUR });
    await cache.put(KEY, 'empty');
    expect(await cache.get(KEY)).toBe('empty');
  });

  it('honours the TTL: used while created + ttl > now', async () => {
    let now = Date.parse('2025-01-01T00:00:00Z');
    const cache = new DirStepCache(await tmpDir(), { ttlMs: HOUR, now: () => now });
    await cache.put(KEY, 'empty');
    now += HOUR - 1;
    expect(await cache.get(KEY)).toBe('empty');
    now += 1;
    expect(await cache.get(KEY)).toBeNull();
    // a rebuild overwrites the entry with a fresh one
    await cache.put(KEY, 'empty');
    expect(await cache.get(KEY)).toBe('empty');
  });

  it('treats damaged entries and missing or truncated blobs as misses', async () => {
    const dir = await tmpDir();
    const cache = new DirStepCache(dir, { ttlMs: HOUR });
    const layer = await layerIn(await tmpDir(), 'x');
    await cache.put(KEY, layer);
    const blob = join(dir, 'blobs', 'sha256', layer.descriptor.digest.slice(7));
    await writeFile(blob, 'short');
    expect(await cache.get(KEY)).toBeNull();
    await writeFile(join(dir, 'entries', `${KEY}.json`), '{not json');
    expect(await cache.get(KEY)).toBeNull();
    await writeFile(join(dir, 'entries', `${KEY}.json`), JSON.stringify({ version: 2, created: new Date().toISOString() }));
    expect(await cache.get(KEY)).toBeNull();
  });

  it('refuses keys that are not 64 hex digits (no path tricks)', async () => {
    const cache = new DirStepCache(await tmpDir(), { ttlMs: HOUR });
    await expect(cache.get('../../etc/passwd')).rejects.toThrow(/invalid key/);
    await expect(cache.put('A'.repeat(64), 'empty')).rejects.toThrow(/invalid key/);
  });

  it('two extenders sharing the directory: concurrent puts and gets never see half an entry', async () => {
    const dir = await tmpDir();
    const a = new DirStepCache(dir, { ttlMs: HOUR });
    const b = new DirStepCache(dir, { ttlMs: HOUR });
    const layers = await Promise.all(Array.from({ length: 4 }, async (_, i) => layerIn(await tmpDir(), `content ${i}`)));
    const keys = layers.map((_, i) => String(i).repeat(64));
    const seen: (Layer | 'empty' | null)[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const c = i % 2 ? a : b;
        const k = i % 4;
        if (i % 3 === 0) seen.push(await c.get(keys[k]!));
        else await c.put(keys[k]!, layers[k]!);
      }),
    );
    for (const s of seen) if (s !== null) expect(s).not.toBe('empty');
    for (const [i, k] of keys.entries()) {
      const hit = (await a.get(k)) as Layer;
      expect(hit.descriptor.digest).toBe(layers[i]!.descriptor.digest);
      await readAll(await hit.open()); // verified read
    }
    const leftovers = [...(await readdir(join(dir, 'entries'))), ...(await readdir(join(dir, 'blobs', 'sha256')))].filter((n) => n.startsWith('.'));
    expect(leftovers).toEqual([]);
  });

  it('prune removes long-expired entries and old unreferenced blobs, keeps the rest', async () => {
    let now = Date.now() - 3 * HOUR;
    const dir = await tmpDir();
    const cache = new DirStepCache(dir, { ttlMs: HOUR, now: () => now });
    const keep = await layerIn(await tmpDir(), 'keep');
    const drop = await layerIn(await tmpDir(), 'drop');
    await cache.put('1'.repeat(64), drop);
    now = Date.now();
    await cache.put('2'.repeat(64), keep);
    const orphanFresh = await layerIn(dir, 'just stored by another extender');
    const old = new Date(Date.now() - 3 * HOUR);
    for (const l of [keep, drop]) await utimes(join(dir, 'blobs', 'sha256', l.descriptor.digest.slice(7)), old, old);
    const removed = await cache.prune();
    expect(removed).toEqual({ entries: 1, blobs: 1 });
    const blobs = await readdir(join(dir, 'blobs', 'sha256'));
    expect(blobs.sort()).toEqual([keep.descriptor.digest.slice(7), orphanFresh.descriptor.digest.slice(7)].sort());
    expect(await cache.get('2'.repeat(64))).not.toBeNull();
    expect(JSON.parse(await readFile(join(dir, 'entries', `${'2'.repeat(64)}.json`), 'utf8')).layer.digest).toBe(keep.descriptor.digest);
  });
});

describe('step cache keys (§4.3, §9.22)', () => {
  const input: StepKeyInput = {
    parentChainID: 'sha256:' + 'c'.repeat(64),
    config: { env: ['PATH=/bin'], user: '1000', workdir: '/', shell: [] },
    platform: 'linux/amd64',
    instruction: 'RUN apt-get update',
    args: [['user_id', '1000']],
  };

  it('is stable and changes with every input', () => {
    expect(stepCacheKey(input)).toMatch(/^[a-f0-9]{64}$/);
    expect(stepCacheKey({ ...input })).toBe(stepCacheKey(input));
    const variants: StepKeyInput[] = [
      { ...input, parentChainID: null },
      { ...input, config: { ...input.config, env: ['PATH=/usr/bin'] } },
      { ...input, config: { ...input.config, user: 'root' } },
      { ...input, config: { ...input.config, workdir: '/x' } },
      { ...input, config: { ...input.config, shell: ['/bin/bash', '-c'] } },
      { ...input, platform: 'linux/arm64' },
      { ...input, instruction: 'RUN apt-get update ' },
      { ...input, args: [['user_id', '1001']] },
      { ...input, contextDigest: 'sha256:' + 'd'.repeat(64) },
      { ...input, extra: 'heredoc' },
    ];
    const keys = new Set([stepCacheKey(input), ...variants.map(stepCacheKey)]);
    expect(keys.size).toBe(variants.length + 1);
  });

  it('build_id in scope: that step and every later one get no key', () => {
    const k = new StepKeyer();
    expect(k.keyFor(input)).not.toBeNull();
    expect(k.keyFor({ ...input, args: [['build_id', 'uuid']] })).toBeNull();
    expect(k.bypassed).toBe(true);
    expect(k.keyFor(input)).toBeNull();
  });
});
