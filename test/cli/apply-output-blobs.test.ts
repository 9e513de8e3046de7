// runApply moves the layers it built into the output layout instead of copying them (a rename on
// one filesystem) and hard-links the base blobs from the base layout; across filesystems both are
// copied.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { OciLayout, validateLayout, type Image } from '../../oci/index.js';
import { runApply } from '../../src/cli/apply.js';
import { silentLogger } from '../../src/log.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

const DOCKERFILE = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN head -c 3000000 /dev/urandom > /random.bin && echo two > /two\nUSER 1000:1000\n';

async function build(out: string, cacheDir: string, dir: string, tag = 'latest'): Promise<Image> {
  writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
  await runApply(
    { base: `${fixture('busybox')}:latest`, dockerfile: join(dir, 'Dockerfile'), buildArgs: [], output: `${out}:${tag}`, sparse: false, snapshotter: 'auto', kind: 'run', cacheDir },
    silentLogger,
  );
  return (await OciLayout.open(out)).image({ tag });
}

/** Reads every layer blob through Layer.open(), which verifies digest and size at EOF. */
async function readAllLayers(img: Image): Promise<void> {
  for (const l of img.layers) await pipeline(await l.open(), new Writable({ write: (_c, _e, cb) => cb() }));
}

function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', ...digest.split(':'));
}

describe.skipIf(!isRoot)('apply: output layout blobs', () => {
  it('moves the new layer into the output, links the base layers, and leaves no work dir behind', async () => {
    const dir = await tmpDir('cnbx-apply-blobs-');
    const cacheDir = join(dir, 'cache');
    const out = join(dir, 'out');
    const img = await build(out, cacheDir, dir);
    await validateLayout(out);
    await readAllLayers(img);
    expect(img.layers.length).toBe(2);
    const newLayer = img.layers[1]!.descriptor;
    expect(newLayer.size).toBeGreaterThan(3_000_000);
    expect(statSync(blobPath(out, newLayer.digest)).size).toBe(newLayer.size);
    // The base blob is the fixture's own file (a hard link) when both are on one filesystem.
    const baseDigest = img.layers[0]!.descriptor.digest;
    const baseOut = statSync(blobPath(out, baseDigest));
    const baseIn = statSync(blobPath(fixture('busybox'), baseDigest));
    expect(baseOut.ino === baseIn.ino && baseOut.dev === baseIn.dev).toBe(baseOut.dev === baseIn.dev);
    // The new layer and the manifest are this output's alone.
    expect(statSync(blobPath(out, newLayer.digest)).nlink).toBe(1);
    expect(statSync(blobPath(out, img.digest)).nlink).toBe(1);
    expect(readdirSync(join(cacheDir, 'work'))).toEqual([]);
  });

  it('adds a second image to an existing layout', async () => {
    const dir = await tmpDir('cnbx-apply-blobs-');
    const out = join(dir, 'out');
    const first = await build(out, join(dir, 'cache'), dir, 'one');
    const second = await build(out, join(dir, 'cache'), dir, 'two');
    await validateLayout(out);
    expect(second.layers[1]!.descriptor.digest).not.toBe(first.layers[1]!.descriptor.digest);
    await readAllLayers(await (await OciLayout.open(out)).image({ tag: 'one' }));
    await readAllLayers(second);
  });

  it('copies the new layer when the output is on another filesystem than the cache', async () => {
    const dir = await tmpDir('cnbx-apply-blobs-');
    const shm = '/dev/shm';
    const other = statSync(shm, { throwIfNoEntry: false });
    if (!other || other.dev === statSync(dir).dev) return; // no second filesystem here
    const outParent = join(shm, `cnbx-apply-blobs-${process.pid}-${Date.now()}`);
    mkdirSync(outParent);
    try {
      const out = join(outParent, 'out');
      const img = await build(out, join(dir, 'cache'), dir);
      await validateLayout(out);
      await readAllLayers(img);
      for (const l of img.layers) expect(statSync(blobPath(out, l.descriptor.digest)).dev).toBe(other.dev);
    } finally {
      const { rmSync } = await import('node:fs');
      rmSync(outParent, { recursive: true, force: true });
    }
  });
});
