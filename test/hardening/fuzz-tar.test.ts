// Fuzzing the tar readers on mutated layers: snapshot's applyLayerTar (both formats) and the
// exporter's Go-compatible re-tar (normalizeTar/retarLayerBlob). Seeds are tars made from random
// entry tables (files, dirs, symlinks, hardlinks, devices, whiteouts, PAX names and xattrs, long
// names); each is mutated (bit flips, inserted/deleted/duplicated spans, truncation). Every run
// must end in time with success or a typed error, and never write outside its root: a sibling
// directory of every root is checked after each run, the host areas once per target.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyLayerTar } from '../../snapshot/index.js';
import { normalizeTar, retarLayerBlob } from '../../src/exporter/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { watchOutside } from '../security/outside.js';
import { FUZZ_TIMEOUT, bounded, expectTyped, fieldMutationArb, fuzzParams, mutate, mutateFields, mutationArb } from './fuzz-support.js';

const NAMES = ['a', 'a/b', 'a/b/c', 'd', 'd/e', '.wh.a', 'a/.wh.b', 'a/.wh..wh..opq', '.wh..wh..opq', 'l', 'l/x', '/abs', './dot', 'x'.repeat(120),
  `${'long/'.repeat(40)}f`, 'é', 'sp ace', '..a', 'a..'];

const entryArb: fc.Arbitrary<TarEntrySpec> = fc.record({
  name: fc.constantFrom(...NAMES),
  type: fc.constantFrom('file', 'dir', 'symlink', 'link', 'fifo', 'char'),
  mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o1777, 0o000),
  content: fc.string({ maxLength: 64 }),
  linkname: fc.constantFrom('a', 'a/b', '/', '..', '../..', 'd/e', 'l', '/etc/passwd'),
  xattr: fc.option(fc.constantFrom('user.k', 'security.capability', 'trusted.overlay.opaque'), { nil: undefined }),
  pax: fc.boolean(),
}).map((e) => {
  const spec: TarEntrySpec = { name: e.type === 'dir' ? `${e.name}/` : e.name, type: e.type, mode: e.mode };
  if (e.type === 'file') spec.content = e.content;
  if (e.type === 'symlink' || e.type === 'link') spec.linkname = e.linkname;
  if (e.type === 'char') Object.assign(spec, { devmajor: 1, devminor: 3 });
  if (e.xattr) spec.xattrs = { [e.xattr]: 'v' };
  if (e.pax) spec.pax = { mtime: '1700000000.5', 'SCHILY.xattr.user.z': 'z' };
  return spec;
});

// Half the inputs get field-level mutations (checksum fixed: the reader parses the bad field),
// half byte-level ones (mostly caught by the checksum, or hitting content and padding).
const tarArb = fc.oneof(
  fc.tuple(fc.array(entryArb, { maxLength: 12 }), fc.array(fieldMutationArb, { minLength: 1, maxLength: 4 })).map(([entries, muts]) => mutateFields(tarFrom(entries), muts)),
  fc.tuple(fc.array(entryArb, { maxLength: 12 }), fc.array(mutationArb, { maxLength: 5 })).map(([entries, muts]) => mutate(tarFrom(entries), muts)),
);

describe.runIf(isRoot)('fuzz: tar readers on mutated layers', () => {
  it('applyLayerTar (merged and overlay): typed errors only, in time, nothing outside its root', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch('cnbx-fuzz-tar-');
    const sentinel = join(scratch, 'outside');
    mkdirSync(sentinel);
    writeFileSync(join(sentinel, 'keep'), 'keep');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(tarArb, fc.constantFrom('merged', 'overlay'), async (tar, format) => {
        const root = join(scratch, `r${n++}`, 'root');
        mkdirSync(root, { recursive: true });
        try {
          await bounded(() => applyLayerTar(Readable.from([tar]), root, { format, layerName: 'fuzz' }), 10_000, 'applyLayerTar');
        } catch (e) {
          if ((e as Error).message.startsWith('hang:')) throw e;
          expectTyped(e, ['SnapshotError'], tar.toString('latin1'));
        }
        expect(readdirSync(sentinel)).toEqual(['keep']);
        expect(readFileSync(join(sentinel, 'keep'), 'utf8')).toBe('keep');
        expect(readdirSync(join(root, '..'))).toEqual(['root']);
      }),
      fuzzParams(),
    );
    await watch.assertUnchanged();
  }, FUZZ_TIMEOUT);

  // Found by a 5000-run campaign (seed -740728154): a base-256 mtime beyond a Date's range came
  // out of tar-stream as an Invalid Date, and the directory's utimes threw a TypeError.
  it('regression: an mtime beyond the range of a date is a BAD_LAYER error, for every entry type', async () => {
    const scratch = await tmpDir('cnbx-fuzz-mtime-');
    const entries: TarEntrySpec[] = [{ name: 'a/', type: 'dir' }, { name: 'f', content: 'x' }, { name: 'l', type: 'symlink', linkname: 'f' }];
    for (const [i, e] of entries.entries()) {
      for (const format of ['merged', 'overlay'] as const) {
        const tar = mutateFields(tarFrom([e]), [{ block: 0, field: 'mtime', pick: 2 }]);
        expect(tar.readUInt8(136), 'base-256 mtime in place').toBe(0x80);
        const root = join(scratch, `${i}-${format}`);
        mkdirSync(root);
        const err = await applyLayerTar(Readable.from([tar]), root, { format, layerName: 'fuzz' }).then(() => undefined, (x: unknown) => x);
        expectTyped(err, ['SnapshotError'], tar.toString('latin1'));
        expect((err as { code: string }).code).toBe('BAD_LAYER');
        expect((err as Error).message).toMatch(/bad mtime/);
      }
    }
  });

  it('the exporter re-tar (normalizeTar, retarLayerBlob of gzip and plain): typed errors only, in time', async () => {
    const drain = async (s: AsyncIterable<unknown>) => {
      for await (const _ of s) {
        // consume
      }
    };
    await fc.assert(
      fc.asyncProperty(tarArb, fc.boolean(), async (tar, gz) => {
        for (const run of [
          () => drain(normalizeTar(Readable.from([tar]))),
          async () => drain(await retarLayerBlob(Readable.from([gz ? gzipSync(tar) : tar]), 'fuzz layer')),
        ]) {
          try {
            await bounded(run, 10_000, 're-tar');
          } catch (e) {
            if ((e as Error).message.startsWith('hang:')) throw e;
            expectTyped(e, ['ExportError', 'OciError'], tar.toString('latin1'));
          }
        }
      }),
      fuzzParams(),
    );
  }, FUZZ_TIMEOUT);
});
