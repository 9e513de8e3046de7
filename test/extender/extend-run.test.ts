// kind=run, end to end through the CLI with the fake engine: contract.md §7.1 X3/X4 and §9 items
// 5, 6, 10, 11, 15–20, 22, 23.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout, validateLayout, type Image } from '../../oci/index.js';
import { put, writeAnalyzed } from './helpers/cnb-tree.js';
import { FakeEngine } from './helpers/fake-engine.js';
import { buildImage, saveBase } from './helpers/images.js';
import { scenario, type Scenario } from './helpers/scenario.js';

async function onlyEntry(dir: string): Promise<string> {
  const names = await readdir(dir);
  expect(names).toHaveLength(1);
  return join(dir, names[0]!);
}

/** Reads `<extended>/run` the way the exporter does: one sub-dir (any name), one manifest. */
async function readExtendedRun(extended: string): Promise<{ dir: string; image: Image; present: Set<string> }> {
  const dir = await onlyEntry(join(extended, 'run'));
  const layout = await OciLayout.open(dir, { verifySizes: false });
  const idx = await layout.index();
  expect(idx.manifests).toHaveLength(1);
  const image = await layout.image();
  const present = new Set((await readdir(join(dir, 'blobs', 'sha256'))).map((h) => `sha256:${h}`));
  return { dir, image, present };
}

const X3_HISTORY_013 = [
  "Layer: 'RUN apt-get update && apt-get install -y curl', Created by extension: curl",
  "Layer: 'COPY run-file /', Created by extension: curl",
  "Layer: 'RUN apt-get update && apt-get install -y tree', Created by extension: tree",
  "Layer: 'COPY shared-file /shared-run', Created by extension: tree",
];

describe('extender kind=run (X3, X4)', () => {
  for (const api of ['0.12', '0.13', '0.15']) {
    it(`Platform ${api}: writes <extended>/run/sha256:<digest> with the lifecycle's shape`, async () => {
      const s = await scenario(api);
      const analyzedBefore = await readFile(join(s.t.layers, 'analyzed.toml'));
      const r = await s.run(['-kind', 'run', '-extended', s.t.extended]);
      expect(r.stdout).not.toMatch(/ERROR/);
      expect(r.code).toBe(0);
      const { dir, image, present } = await readExtendedRun(s.t.extended);
      // the dir name is the manifest digest (what the lifecycle's acceptance test parses)
      expect(dir.endsWith(`/${image.digest}`)).toBe(true);
      expect((await readdir(dir)).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
      await validateLayout(dir, { allowMissingBlobs: true });
      // only the blobs of the new layers (index ≥ N), plus manifest and config
      const N = s.base.layers.length;
      const newLayers = image.layers.slice(N);
      expect(image.layers.slice(0, N).map((l) => l.descriptor.digest)).toEqual(s.base.layers.map((l) => l.descriptor.digest));
      expect([...present].sort()).toEqual([image.digest, image.manifest.config.digest, ...newLayers.map((l) => l.descriptor.digest)].sort());
      // config policy
      const cfg = image.config;
      expect(cfg.created).toBe('0001-01-01T00:00:00Z');
      expect(cfg.config?.Labels?.['io.buildpacks.rebasable']).toBe('false'); // curl leaves it unset, tree sets true
      expect(cfg.history).toHaveLength(cfg.rootfs.diff_ids.length);
      const ext = cfg.history!.slice(N).map((h) => h.created_by);
      expect(ext).toEqual(api === '0.12' ? [X3_HISTORY_013[0], X3_HISTORY_013[2]] : X3_HISTORY_013);
      expect(cfg.history!.slice(0, N)).toEqual(s.base.config.history!.filter((h) => !h.empty_layer));
      expect(cfg.config?.User).toBe('1000'); // USER ${user_id} restores the base's uid part
      expect(cfg.config?.Env).toContain('CNB_STACK_ID=stack-id-from-ext-tree');
      // kind=run: analyzed untouched, builder not run, /kaniko holds only cache
      expect(await readFile(join(s.t.layers, 'analyzed.toml'))).toEqual(analyzedBefore);
      expect(r.stdout).not.toMatch(/builder/i);
      expect(await readdir(s.t.kaniko)).toEqual(['cache']);
      // logs: one line per step and the totals line
      expect(r.stdout).toMatch(/^\[curl\] RUN apt-get update && apt-get install -y curl \(\d+(\.\d)?m?s, cache miss, layer \d+(\.\d)? (B|kB)\)$/m);
      expect(r.stdout).toMatch(/^Extended run image: \d+ steps \(0 cache hits\), \d new layers \([\d.]+ (B|kB)\) in /m);
    });
  }

  it('X4: a warm cache re-runs nothing cacheable, gives the same digest, and one entry in <extended>/run', async () => {
    const s = await scenario('0.13');
    expect((await s.run(['-kind', 'run'])).code).toBe(0);
    const first = await readExtendedRun(s.t.extended);
    const executedCold = [...s.engine.executed];
    expect(executedCold.filter((c) => c.includes('install'))).toHaveLength(2);

    const warm = new FakeEngine();
    const r = await s.run(['-kind', 'run'], {}, warm);
    expect(r.code).toBe(0);
    const second = await readExtendedRun(s.t.extended);
    expect(second.image.digest).toBe(first.image.digest);
    // apt-get steps came from the cache; only the build_id steps (and what follows them) ran again
    expect(warm.executed.filter((c) => c.includes('install'))).toEqual([]);
    expect(warm.executed.every((c) => c.startsWith('echo'))).toBe(true);
    expect(r.stdout).toMatch(/^\[curl\] RUN apt-get update && apt-get install -y curl \(.*cached, layer/m);
    expect(r.stdout).toMatch(/not cached: build_id in scope/);
    expect(r.stdout).toMatch(/Extended run image: .*\(4 cache hits\)/);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('entries older than -kaniko-cache-ttl are rebuilt (§9.22)', async () => {
    const s = await scenario('0.13');
    expect((await s.run(['-kind', 'run'])).code).toBe(0);
    const again = new FakeEngine();
    // A zero TTL: every entry has expired by the time it is read.
    expect((await s.run(['-kind', 'run', '-kaniko-cache-ttl', '0s'], {}, again)).code).toBe(0);
    expect(again.executed.filter((c) => c.includes('install'))).toHaveLength(2);
    // A bad CNB_KANIKO_CACHE_TTL falls back to 336h: the cache is used.
    const third = new FakeEngine();
    expect((await s.run(['-kind', 'run'], { CNB_KANIKO_CACHE_TTL: '14d' }, third)).code).toBe(0);
    expect(third.executed.filter((c) => c.includes('install'))).toEqual([]);
  });

  it('stale entries in <extended>/run are replaced (a changed Dockerfile, a different digest)', async () => {
    const s = await scenario('0.13');
    expect((await s.run(['-kind', 'run'])).code).toBe(0);
    const first = await readExtendedRun(s.t.extended);
    await put(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nRUN apt-get install -y jq\n');
    expect((await s.run(['-kind', 'run'])).code).toBe(0);
    const second = await readExtendedRun(s.t.extended);
    expect(second.image.digest).not.toBe(first.image.digest);
    expect((await readdir(s.t.extended)).sort()).toEqual(['run']);
  });

  it('build args: fresh build_id per Dockerfile, user/group from the current image, extend-config args, base_image (§9.10–9.12)', async () => {
    const s = await scenario('0.13');
    await put(join(s.t.generated, 'curl', 'extend-config.toml'), '[[run.args]]\nname = "A"\nvalue = "1"\n[[run.args]]\nname = "B"\nvalue = "2"\n[[build.args]]\nname = "X"\nvalue = "x"\n');
    expect((await s.run(['-kind', 'run'])).code).toBe(0);
    const [c1, c2] = s.engine.contexts;
    const names = (c: typeof c1) => c!.args.map((a) => a.name);
    expect(names(c1)).toEqual(['build_id', 'user_id', 'group_id', 'A', 'B', 'base_image']);
    expect(names(c2)).toEqual(['build_id', 'user_id', 'group_id', 'base_image']);
    const id1 = c1!.args[0]!.value;
    const id2 = c2!.args[0]!.value;
    expect(id1).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(id2).not.toBe(id1);
    // busybox's User is 1000:1000; curl leaves it at 1000 (USER ${user_id} drops the group)
    expect(c1!.args.slice(1, 3)).toEqual([{ name: 'user_id', value: '1000' }, { name: 'group_id', value: '1000' }]);
    expect(c2!.args.slice(1, 3)).toEqual([{ name: 'user_id', value: '1000' }, { name: 'group_id', value: '' }]);
    expect(c1!.args.at(-1)!.value).toBe(`base@${s.base.digest}`);
    expect(c2!.args.at(-1)!.value).toMatch(/^base@sha256:[0-9a-f]{64}$/);
    expect(c2!.args.at(-1)!.value).not.toBe(c1!.args.at(-1)!.value);
    expect(c1!.ignorePaths).toEqual([s.t.app, s.t.layers, s.t.platform, s.t.kaniko, '/var/run']);
    expect(c1!.contextDir).toBe(join(s.t.generated, 'curl', 'context.run'));
    expect(c2!.contextDir).toBe(join(s.t.generated, 'tree', 'context'));
  });

  it('a final root user fails with exit 102 and the lifecycle message; /kaniko is clean anyway (§9.15)', async () => {
    const s = await scenario('0.13');
    await put(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER 0:5678\n');
    const r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(102);
    expect(r.stdout).toContain(
      'ERROR: failed to extend run image: the final user ID is 0 (root); please add another extension that resets the user to non-root',
    );
    expect(r.stdout).toMatch(/Warning: Extension from .*tree\/run\.Dockerfile changed the user ID from 1000 to 0; this must not be the final user ID/);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
    expect(await stat(join(s.t.extended, 'run')).catch(() => null)).toBeNull();
  });

  it('image reference errors exit 102: a tag, a missing analyzed.toml, an unknown digest (§9.5, §9.6)', async () => {
    const s = await scenario('0.13');
    await writeAnalyzed(s.t, { run: 'registry.example.com/run:latest' });
    let r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(102);
    expect(r.stdout).toContain("ERROR: failed to extend run image: getting run image to extend: failed to get digest for reference 'registry.example.com/run:latest'");

    await writeAnalyzed(s.t, { run: `registry.example.com/run@sha256:${'0'.repeat(64)}` });
    r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(102);
    expect(r.stdout).toMatch(/failed to extend run image: getting run image to extend: getting base image for digest 'sha256:0{64}'/);

    await writeAnalyzed(s.t, {});
    await import('node:fs/promises').then((f) => f.rm(join(s.t.layers, 'analyzed.toml')));
    r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(102);
    expect(r.stdout).toContain(`Warning: No analyzed metadata found at path "${join(s.t.layers, 'analyzed.toml')}"`);
    expect(r.stdout).toContain('failed to extend run image: getting run image to extend');
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('a sparse base layout is refused with a clear error (we materialise the base; §9.6 differs on purpose)', async () => {
    const s = await scenario('0.13');
    const scratch = join(s.t.root, 'scratch2');
    const img = await buildImage(scratch);
    const ref = await saveBase(s.t.kaniko, img, { sparse: true });
    await writeAnalyzed(s.t, { run: ref });
    const r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(102);
    expect(r.stdout).toMatch(/is missing the blobs of 2 of its 2 layers .* it is a sparse layout \(manifest and config only\).*the restorer must write the full image/);
  });
});

describe('output for a base with a duplicated top layer', () => {
  it('copies only the layers after the real top', async () => {
    const { makeTree } = await import('./helpers/cnb-tree.js');
    const t = await makeTree();
    const base = await buildImage(join(t.root, 'scratch'), { duplicateTop: true });
    expect(base.layers[0]!.descriptor.digest).toBe(base.layers.at(-1)!.descriptor.digest);
    const s: Scenario = await scenario('0.13', { base });
    const r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Warning: Original run image has duplicated top layer with digest: ${base.layers[0]!.descriptor.digest}`);
    const { image, present } = await readExtendedRun(s.t.extended);
    const N = base.layers.length;
    for (const [i, l] of image.layers.entries()) expect(present.has(l.descriptor.digest)).toBe(i >= N);
  });
});
