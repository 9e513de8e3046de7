// The re-tar against Go's archive/tar: expected digests were produced by the lifecycle's re-tar
// logic run with Go (see fixtures/retar/README.md), so these are independent oracles, not our output.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isExportError } from '../../src/exporter/errors.js';
import { retarLayerBlob } from '../../src/exporter/retar.js';

const DIR = join(import.meta.dirname, 'fixtures/retar');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<string, string | null>;

async function retarDigest(file: string): Promise<{ digest: string; bytes: Buffer }> {
  const h = createHash('sha256');
  const parts: Buffer[] = [];
  for await (const c of await retarLayerBlob(createReadStream(join(DIR, file)), file)) {
    h.update(c as Buffer);
    parts.push(c as Buffer);
  }
  return { digest: `sha256:${h.digest('hex')}`, bytes: Buffer.concat(parts) };
}

describe('retar matches Go archive/tar byte for byte', () => {
  it('has golden cases', () => {
    expect(Object.keys(expected).length).toBeGreaterThan(30);
  });
  for (const [file, digest] of Object.entries(expected)) {
    it(file, async () => {
      expect(digest).not.toBeNull();
      const out = await retarDigest(file);
      expect(out.digest).toBe(digest);
      // the lifecycle's writer ends with exactly two zero blocks, no record padding
      expect(out.bytes.length % 512).toBe(0);
      expect(out.bytes.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true);
    });
  }
  for (const file of readdirSync(DIR).filter((f) => f.startsWith('err-'))) {
    it(`${file} fails as in Go`, async () => {
      const e = await retarDigest(file).catch((x: unknown) => x);
      expect(isExportError(e)).toBe(true);
    });
  }
  for (const file of readdirSync(DIR).filter((f) => f.startsWith('sparse-'))) {
    it(`${file} is refused (sparse entries)`, async () => {
      const e = await retarDigest(file).catch((x: unknown) => x);
      expect(isExportError(e, 'UNSUPPORTED')).toBe(true);
    });
  }
});
