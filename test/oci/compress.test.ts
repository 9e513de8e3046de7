import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompressStream, sniffCompression } from '../../oci/index.js';
import { hasCommand } from '../helpers/fixtures.js';
import { chunked, noise, ociFailure, readAll, text } from './oci-helpers.js';

function zstdCompress(data: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

function decompress(c: Parameters<typeof decompressStream>[0], input: Readable): Readable {
  const d = decompressStream(c);
  pipeline(input, d).catch(() => {});
  return d;
}

describe('sniffCompression', () => {
  it('tells gzip, zstd and plain bytes apart by their magic', () => {
    expect(sniffCompression(gzipSync(Buffer.from('x')))).toBe('gzip');
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(sniffCompression(Buffer.from('etc/passwd\0\0\0'))).toBe('none');
    expect(sniffCompression(Buffer.from([0x1f]))).toBe('none');
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f]))).toBe('none');
    expect(sniffCompression(Buffer.alloc(0))).toBe('none');
  });
});

describe('decompressStream', () => {
  const data = Buffer.concat([text(1_500_000), noise(1_500_000)]);

  it('none passes bytes through; gzip inflates', async () => {
    expect((await readAll(decompress('none', chunked(data, [70_000])))).equals(data)).toBe(true);
    expect((await readAll(decompress('gzip', chunked(gzipSync(data), [999])))).equals(data)).toBe(true);
  });

  describe.skipIf(!hasCommand('zstd'))('zstd (zstd -dc, Node 20 zlib has none)', () => {
    it('inflates zstd fed in small pieces', async () => {
      expect((await readAll(decompress('zstd', chunked(zstdCompress(data), [4096, 1, 65_536])))).equals(data)).toBe(true);
    });

    it('keeps backpressure: a slow reader of a large output gets it all', async () => {
      const zeros = Buffer.alloc(64 * 1024 * 1024);
      const out = decompress('zstd', Readable.from([zstdCompress(zeros)]));
      const h = createHash('sha256');
      let n = 0;
      for await (const c of out as AsyncIterable<Buffer>) {
        h.update(c);
        n += c.length;
        if (n % (8 * 1024 * 1024) < c.length) await new Promise((r) => setTimeout(r, 20));
      }
      expect(n).toBe(zeros.length);
      expect(h.digest('hex')).toBe(createHash('sha256').update(zeros).digest('hex'));
    });

    it('bad zstd data fails with an OciError carrying zstd’s message', async () => {
      const bad = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), noise(10_000)]);
      const e = await ociFailure(readAll(decompress('zstd', Readable.from([bad]))));
      expect(e.code).toBe('IO');
      expect(e.message).toMatch(/zstd/);
      const truncated = zstdCompress(data).subarray(0, 5000);
      expect((await ociFailure(readAll(decompress('zstd', Readable.from([truncated]))))).code).toBe('IO');
    });

    it('a reader that stops early ends the zstd process', async () => {
      const out = decompress('zstd', Readable.from([zstdCompress(Buffer.alloc(32 * 1024 * 1024))]));
      for await (const _ of out) break;
      expect(out.destroyed).toBe(true);
    });
  });
});
