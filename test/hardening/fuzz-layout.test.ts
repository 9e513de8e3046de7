// Fuzzing the image readers on damaged layouts: OciLayout.open/image (and reading every layer),
// validateLayout, and the exporter's reader of <extended>/run (readExtendedRunImage, with the
// extension layers re-tarred). Each case starts from a valid layout and damages one document:
// index.json as bytes, or a manifest or config as JSON (a subtree replaced by random JSON, a key
// dropped) re-stored under its new digest with every reference updated, so the reader gets past
// the digest check into the document's handling. Success or a typed error, in time, nothing
// written outside.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { appendLayers, digestHex, emptyImage, OciLayout, sha256, storeLayer, validateLayout, withConfigFile } from '../../oci/index.js';
import { readExtendedRunImage } from '../../src/exporter/index.js';
import { tarFrom } from '../helpers/tar.js';
import { watchOutside } from '../security/outside.js';
import { FUZZ_TIMEOUT, bounded, expectTyped, fuzzParams, mutate, mutationArb } from './fuzz-support.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A JSON edit: at a path chosen by `pick`, replace the value, drop the key, or wrap it in an array. */
interface JsonEdit {
  pick: number;
  op: 'replace' | 'drop' | 'wrap';
  value: Json;
}
const jsonEditArb: fc.Arbitrary<JsonEdit> = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom('replace', 'drop', 'wrap'),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
    fc.constantFrom<Json>(-1, 1e300, 2 ** 53 + 1, '', 'sha256:', `sha256:${'0'.repeat(64)}`, 'application/vnd.oci.image.layer.v1.tar+zstd', '../../etc', [], {}),
  ),
});

function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

function edit(doc: Json, e: JsonEdit): Json {
  const all = paths(doc);
  const path = all[e.pick % all.length]!;
  if (path.length === 0) return e.op === 'wrap' ? [doc] : e.value;
  const copy = JSON.parse(JSON.stringify(doc)) as Json;
  let parent = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (e.op === 'drop') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    parent[last] = e.op === 'wrap' ? [parent[last]!] : e.value;
  }
  return copy;
}

const blobPath = (dir: string, d: string) => join(dir, 'blobs', 'sha256', digestHex(d as never));

/**
 * Replaces the document `which` of the layout at `dir` by `text` under its own digest and
 * updates the references to it (config → manifest → index).
 */
function restore(dir: string, which: 'manifest' | 'config', text: Buffer): void {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number }[] };
  const mDesc = index.manifests[0]!;
  let manifest: Buffer = readFileSync(blobPath(dir, mDesc.digest));
  if (which === 'config') {
    const m = JSON.parse(manifest.toString('utf8')) as { config: { digest: string; size: number } };
    const d = sha256(text);
    writeFileSync(blobPath(dir, d), text);
    m.config.digest = d;
    m.config.size = text.length;
    manifest = Buffer.from(JSON.stringify(m));
  } else {
    manifest = text;
  }
  const md = sha256(manifest);
  writeFileSync(blobPath(dir, md), manifest);
  mDesc.digest = md;
  mDesc.size = manifest.length;
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
}

const caseArb = fc.oneof(
  fc.record({ target: fc.constant('index-bytes' as const), muts: fc.array(mutationArb, { minLength: 1, maxLength: 4 }) }),
  fc.record({ target: fc.constantFrom('manifest' as const, 'config' as const), edits: fc.array(jsonEditArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ target: fc.constantFrom('manifest-bytes' as const, 'config-bytes' as const), muts: fc.array(mutationArb, { minLength: 1, maxLength: 4 }) }),
);
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

/** Damages the layout at `dir` as `c` says. */
function damage(dir: string, c: Case): void {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const mDigest = index.manifests[0]!.digest;
  const manifest = JSON.parse(readFileSync(blobPath(dir, mDigest), 'utf8')) as { config: { digest: string } };
  if (c.target === 'index-bytes') {
    writeFileSync(join(dir, 'index.json'), mutate(readFileSync(join(dir, 'index.json')), c.muts));
  } else if (c.target === 'manifest' || c.target === 'config') {
    let doc = JSON.parse(readFileSync(blobPath(dir, c.target === 'manifest' ? mDigest : manifest.config.digest), 'utf8')) as Json;
    for (const e of c.edits) doc = edit(doc, e);
    restore(dir, c.target, Buffer.from(JSON.stringify(doc)));
  } else if ('muts' in c) {
    const which = c.target === 'manifest-bytes' ? 'manifest' : 'config';
    const raw = readFileSync(blobPath(dir, which === 'manifest' ? mDigest : manifest.config.digest));
    restore(dir, which, mutate(raw, c.muts));
  }
}

async function drain(s: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of s) {
    // consume
  }
}

let seedRoot: string;
let seedLayout: string;
let seedExtended: string;

beforeAll(async () => {
  // Not tmpDir(): that is emptied after each test, and the seeds serve both.
  const root = mkdtempSync(join(tmpdir(), 'cnbx-fuzz-seed-'));
  seedRoot = root;
  seedLayout = join(root, 'layout');
  const layout = await OciLayout.create(seedLayout);
  let img = withConfigFile(emptyImage({ os: 'linux', architecture: 'amd64' }), (c) => ({ ...c, config: { Env: ['PATH=/bin'], User: '1000' } }));
  for (const [i, entries] of [[{ name: 'etc/', type: 'dir' as const }, { name: 'etc/os', content: 'base' }], [{ name: 'opt/x', content: 'ext' }]].entries()) {
    const layer = await storeLayer(Readable.from([tarFrom(entries)]), layout.blobs);
    img = appendLayers(img, { layer, history: { created_by: i === 0 ? 'base' : "Layer: 'RUN x', Created by extension: ext" } });
  }
  await layout.writeImage(img, { tag: 'latest', replaceIndex: true });
  // <extended>/run/sha256:<d>: the same image as the extender writes it (one manifest in index.json).
  seedExtended = join(root, 'extended', 'run', img.digest);
  mkdirSync(join(seedExtended, '..'), { recursive: true });
  cpSync(seedLayout, seedExtended, { recursive: true });
});

afterAll(() => rmSync(seedRoot, { recursive: true, force: true }));

describe('fuzz: image layout readers on damaged documents', () => {
  it('OciLayout.open/image (every layer read), validateLayout: OciError only, in time', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch('cnbx-fuzz-layout-');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const dir = join(scratch, String(n++));
        cpSync(seedLayout, dir, { recursive: true });
        damage(dir, c);
        for (const run of [
          async () => {
            const img = await (await OciLayout.open(dir)).image();
            for (const l of img.layers) await drain(await l.openUncompressed());
          },
          () => validateLayout(dir),
        ]) {
          try {
            await bounded(run, 10_000, 'layout read');
          } catch (e) {
            if ((e as Error).message.startsWith('hang:')) throw e;
            expectTyped(e, ['OciError'], JSON.stringify(c));
          }
        }
      }),
      fuzzParams(),
    );
    await watch.assertUnchanged();
  }, FUZZ_TIMEOUT);

  it('readExtendedRunImage (extension layers re-tarred): ExportError/OciError only, in time', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch('cnbx-fuzz-ext-');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const runDir = join(scratch, String(n++), 'run');
        const dir = join(runDir, 'sha256:image');
        mkdirSync(runDir, { recursive: true });
        cpSync(seedExtended, dir, { recursive: true });
        damage(dir, c);
        try {
          await bounded(async () => {
            const img = await readExtendedRunImage(runDir);
            for (const l of img?.extensionLayers ?? []) await drain((await l.openTar()).tar);
          }, 10_000, 'readExtendedRunImage');
        } catch (e) {
          if ((e as Error).message.startsWith('hang:')) throw e;
          expectTyped(e, ['ExportError', 'OciError'], JSON.stringify(c));
        }
      }),
      fuzzParams(),
    );
    await watch.assertUnchanged();
  }, FUZZ_TIMEOUT);
});
