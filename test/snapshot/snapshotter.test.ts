// The Workspace lifecycle around the hard cases: choosing a snapshotter, crash cleanup, many and
// duplicate layers, FROM scratch, cache hits (applyLayer), and what a closed workspace does.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendLayers, emptyImage, MediaType, type Image } from '../../oci/index.js';
import { SnapshotError } from '../../snapshot/errors.js';
import { mountsUnder, removeWorkDir } from '../../snapshot/overlay-mount.js';
import { defaultIgnore } from '../../snapshot/ignore.js';
import { chooseSnapshotter } from '../../snapshot/snapshotter.js';
import { isRoot } from '../helpers/fixtures.js';
import { brief, commit, loadFixture, makeEnv, openWorkspace, runSteps, sh, SNAPSHOTTERS, type Env } from './harness.js';

describe.skipIf(!isRoot)('snapshotter lifecycle', () => {
  let env: Env;
  let busybox: Image;
  beforeAll(async () => {
    env = makeEnv();
    busybox = await loadFixture('busybox');
  });
  afterAll(() => env.cleanup());

  it('auto picks overlay where mounts work; explicit choices are honoured', async () => {
    expect((await chooseSnapshotter('auto', env.cache, env.log)).name).toBe('overlay');
    expect((await chooseSnapshotter('scan', env.cache)).name).toBe('scan');
    expect((await chooseSnapshotter('overlay', env.cache)).name).toBe('overlay');
  });

  it('open after a crash unmounts what the last run left mounted and starts clean', async () => {
    const workDir = join(env.dir, 'crashed');
    const s = await chooseSnapshotter('overlay', env.cache, env.log);
    const first = await s.open(busybox, { workDir });
    await first.beginStep();
    writeFileSync(join(first.root, 'tmp/left-over'), 'x');
    // "Crash": the workspace is never closed; its mount stays.
    expect(await mountsUnder(workDir)).toHaveLength(1);
    const second = await s.open(busybox, { workDir });
    try {
      expect(await mountsUnder(workDir)).toHaveLength(1);
      expect(existsSync(join(second.root, 'tmp/left-over'))).toBe(false);
      expect(env.log.warnings.some((w) => w.includes('stale mount'))).toBe(true);
    } finally {
      await second.close();
    }
    expect(await mountsUnder(workDir)).toEqual([]);
    expect(existsSync(workDir)).toBe(false);
  });

  it('never removes a work dir with something still mounted under it', async () => {
    const workDir = join(env.dir, 'bound');
    const victim = join(env.dir, 'victim');
    mkdirSync(join(workDir, 'x'), { recursive: true });
    mkdirSync(victim);
    writeFileSync(join(victim, 'precious'), 'keep me');
    execFileSync('mount', ['--bind', victim, join(workDir, 'x')]);
    try {
      await expect(removeWorkDir(workDir)).rejects.toMatchObject({ code: 'MOUNT' });
    } finally {
      execFileSync('umount', [join(workDir, 'x')]);
    }
    expect(readFileSync(join(victim, 'precious'), 'utf8')).toBe('keep me');
  });

  it('stacks dozens of layers (short lowerdir names) and an image with a repeated layer', async () => {
    const steps = Array.from({ length: 40 }, (_, i) => sh(`echo ${i} >/tmp/layer-${i}`));
    const ws = await openWorkspace(env, 'scan', busybox);
    let many: Image;
    try {
      const outs = await runSteps(env, ws, steps);
      many = appendLayers(busybox, ...outs.map((o) => ({ layer: o.layer! })));
    } finally {
      await ws.close();
    }
    // The last layer twice on top (lifecycle #1300): the kernel refuses a lowerdir twice.
    const top = many.layers[many.layers.length - 1]!;
    const repeated = appendLayers(many, { layer: top });
    for (const name of SNAPSHOTTERS) {
      const w = await openWorkspace(env, name, repeated);
      try {
        expect(readFileSync(join(w.root, 'tmp/layer-39'), 'utf8')).toBe('39\n');
        expect(readFileSync(join(w.root, 'tmp/layer-0'), 'utf8')).toBe('0\n');
        const [o] = await runSteps(env, w, [sh('rm /tmp/layer-7')]);
        expect(o!.entries.map(brief)).toEqual(['tmp/', 'tmp/.wh.layer-7']);
      } finally {
        await w.close();
      }
    }
  }, 300_000);

  it('FROM scratch: an empty image works in both', async () => {
    for (const name of SNAPSHOTTERS) {
      const w = await openWorkspace(env, name, emptyImage());
      try {
        const [o] = await runSteps(env, w, [(root) => { mkdirSync(join(root, 'app')); writeFileSync(join(root, 'app/x'), 'x'); }]);
        expect(o!.entries.map(brief), name).toEqual(['app/', 'app/x']);
      } finally {
        await w.close();
      }
    }
  });

  it('applyLayer (cache hit) puts a layer on top; later steps diff against it', async () => {
    const w0 = await openWorkspace(env, 'overlay', busybox);
    let cached;
    try {
      [cached] = await runSteps(env, w0, [sh('mkdir -p /opt/c && echo a >/opt/c/a && echo b >/opt/c/b')]);
    } finally {
      await w0.close();
    }
    const results: Record<string, string[]> = {};
    for (const name of SNAPSHOTTERS) {
      const w = await openWorkspace(env, name, busybox);
      try {
        await w.applyLayer(cached!.layer!);
        expect(readFileSync(join(w.root, 'opt/c/a'), 'utf8')).toBe('a\n');
        const [o] = await runSteps(env, w, [sh('rm /opt/c/a && chmod 644 /opt/c/b && echo c >/opt/c/c')]);
        results[name] = o!.entries.map(brief);
      } finally {
        await w.close();
      }
    }
    // `chmod 644` of a file already 0644: the overlay differ sees an equal copy-up; scan cannot
    // compare with the pristine base for a path a cached layer wrote, so it may add it (superset).
    expect(results.overlay).toEqual(['opt/', 'opt/c/', 'opt/c/.wh.a', 'opt/c/c']);
    expect(results.scan!.filter((e) => e !== 'opt/c/b')).toEqual(results.overlay);
  });

  it('#59 the layer takes the media type asked for (Docker schema2 bases get Docker layer types)', async () => {
    for (const name of SNAPSHOTTERS) {
      const w = await openWorkspace(env, name, busybox);
      try {
        await w.beginStep();
        writeFileSync(join(w.root, 'tmp/x'), 'x');
        const r = await w.commitStep({ store: env.store, compression: 'gzip', mediaType: MediaType.DockerLayerGzip, ignore: () => false });
        expect(r!.layer.descriptor.mediaType).toBe(MediaType.DockerLayerGzip);
        expect(r!.entries).toBe(2);
      } finally {
        await w.close();
      }
    }
  });

  it('a closed workspace refuses further steps', async () => {
    for (const name of SNAPSHOTTERS) {
      const w = await openWorkspace(env, name, busybox);
      await w.close();
      await expect(w.beginStep()).rejects.toBeInstanceOf(SnapshotError);
      await w.close(); // idempotent
    }
  });

  it('overlay: a commit whose layer cannot be stored after the swap to a fresh upper leaves a workspace that refuses further steps', async () => {
    const w = await openWorkspace(env, 'overlay', busybox);
    const workDir = join(w.root, '..');
    try {
      await w.beginStep();
      writeFileSync(join(w.root, 'tmp', 'lost'), 'x');
      const aborted = new AbortController();
      aborted.abort();
      const failed = w.commitStep({ store: env.store, compression: 'gzip', mediaType: MediaType.OciLayerGzip, ignore: defaultIgnore(), signal: aborted.signal });
      await expect(failed).rejects.toThrow();
      // The merged view is intact, but the step's change is no longer in the upper: no layer would ever hold it.
      expect(readFileSync(join(w.root, 'tmp', 'lost'), 'utf8')).toBe('x');
      await expect(w.beginStep()).rejects.toMatchObject({ code: 'IO', message: expect.stringMatching(/unusable/) });
      await expect(w.commitStep({ store: env.store, compression: 'gzip', mediaType: MediaType.OciLayerGzip, ignore: defaultIgnore() })).rejects.toBeInstanceOf(SnapshotError);
    } finally {
      await w.close();
    }
    expect(await mountsUnder(workDir)).toEqual([]);
    expect(existsSync(workDir)).toBe(false);
  });

  it('commit without beginStep is an error for scan; overlay tracks from the last commit', async () => {
    const w = await openWorkspace(env, 'scan', busybox);
    try {
      await expect(commit(env, w)).rejects.toBeInstanceOf(SnapshotError);
    } finally {
      await w.close();
    }
  });
});
