import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { retarLayerBlob } from '../../src/exporter/retar.js';

const FIXTURE = resolve(import.meta.dirname, '../../../shared/fixtures/lifecycle-extended-run/sha256_c72eda1cc5b6c41360b95d73f881eff9d0655e56c693a2bc6cc9312c9e70aa24');

async function digestOf(s: AsyncIterable<unknown>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of s) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

describe('retar (lifecycle extension-layer normalisation)', () => {
  it('reproduces the lifecycle diffIDs of the shared fixture layers', async () => {
    const blob = (hex: string) => createReadStream(join(FIXTURE, 'blobs/sha256', hex));
    const a = await digestOf(await retarLayerBlob(blob('65c2873d397056a5cb4169790654d787579b005f18b903082b177d4d9b4aecf5')));
    const b = await digestOf(await retarLayerBlob(blob('0fb9b88c9cbe9f11b4c8da645f390df59f5949632985a0bfc2a842ef17b2ad18')));
    expect(a).toBe('sha256:fb54d2566824d6630d94db0b008d9a544a94d3547a424f52e2fd282b648c0601');
    expect(b).toBe('sha256:1018c7d3584c4f7fa3ef4486d1a6a11b93956b9d8bfe0898a3e0fbd248c984d8');
  });
});
