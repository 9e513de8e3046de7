// Attack: layer blobs whose compression is broken — truncated gzip, flipped bits in the deflate
// stream, a bad CRC or length in the trailer, a gzip of garbage, an empty blob, a right blob with
// the wrong diffID, trailing junk, a corrupt zstd blob. Through materialize, the LayerCache and a
// full `apply`: BAD_LAYER (CLI exit 6), nothing half-extracted left in the cache or the output.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../../oci/index.js';
import { hasCommand, isRoot } from '../helpers/fixtures.js';
import { tarFrom } from '../helpers/tar.js';
import { everyPath, expectContained, expectRefusedEverywhere, hasDist, type HostileLayer } from './hostile.js';
import { watchOutside } from './outside.js';

const TAR = tarFrom([
  { name: 'etc/', type: 'dir' },
  ...Array.from({ length: 40 }, (_, i) => ({ name: `etc/file-${i}`, content: randomBytes(3000).toString('base64') })),
]);
const GZ = gzipSync(TAR);
const diffID = sha256(TAR);

function flipped(buf: Buffer, at: number): Buffer {
  const b = Buffer.from(buf);
  b[at] = b[at]! ^ 0xff;
  return b;
}

describe.runIf(isRoot && hasDist)('hostile layers: corrupt compression', () => {
  const cases: Array<[string, () => HostileLayer]> = [
    ['truncated gzip (half)', () => ({ blob: GZ.subarray(0, GZ.length >> 1), diffID })],
    ['truncated gzip (trailer cut)', () => ({ blob: GZ.subarray(0, GZ.length - 4), diffID })],
    ['bit flip in the deflate stream', () => ({ blob: flipped(GZ, GZ.length >> 1), diffID })],
    ['bad CRC in the trailer', () => ({ blob: flipped(GZ, GZ.length - 6), diffID })],
    ['bad length in the trailer', () => ({ blob: flipped(GZ, GZ.length - 2), diffID })],
    ['gzip of garbage', () => ({ blob: gzipSync(randomBytes(20_000)), diffID })],
    ['gzip header then garbage', () => ({ blob: Buffer.concat([GZ.subarray(0, 10), randomBytes(5000)]), diffID })],
    ['empty blob', () => ({ blob: Buffer.alloc(0), diffID })],
    ['valid gzip, wrong diffID', () => ({ blob: GZ, diffID: sha256('something else') as Digest })],
    ['plain tar labelled gzip, wrong diffID', () => ({ blob: TAR, diffID: sha256('x') as Digest })],
  ];
  it.each(cases)('%s → BAD_LAYER, nothing left half-written', async (_n, make) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [make()]);
    await expectRefusedEverywhere(r, 'BAD_LAYER');
    await watch.assertUnchanged();
  });

  it('trailing junk after the gzip member is refused or ignored, never half-applied', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [{ blob: Buffer.concat([GZ, Buffer.from('junk after the member')]), diffID }]);
    await expectContained(r);
    await watch.assertUnchanged();
  });

  it.runIf(hasCommand('zstd'))('a corrupt zstd blob → BAD_LAYER (or the OciError of the decompressor), typed', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const zst = execFileSync('zstd', ['-q', '-c'], { input: TAR });
    const r = await everyPath(scratch, [{ blob: zst.subarray(0, zst.length >> 1), diffID, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }]);
    for (const o of [r.materialize, r.cache]) {
      expect(o.ok).toBe(false);
      expect(['SnapshotError', 'OciError']).toContain(o.error?.name);
    }
    expect(r.cli.code).toBe(6);
    await watch.assertUnchanged();
  });
});
