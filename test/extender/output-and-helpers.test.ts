import { chown, lstat, mkdir, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout } from '../../oci/index.js';
import { parseGoDuration } from '../../src/cli/flags-duration.js';
import { parseApiVersion } from '../../src/cnb/index.js';
import { builderBinds, builderEnv } from '../../src/extender/builder.js';
import { canWrite, ensureOwner } from '../../src/extender/ensure-owner.js';
import { inputsFromEnv, resolveInputPaths } from '../../src/extender/inputs.js';
import { parseImageEnv } from '../../src/extender/env.js';
import { ExtenderError } from '../../src/extender/errors.js';
import { writeExtendedImage } from '../../src/extender/output.js';
import { lookupUid } from '../../src/extender/passwd.js';
import { formatDuration, formatSize, formatStepLine, formatSummary, totals } from '../../src/extender/summary.js';
import { memoryLogger } from '../../src/log.js';
import { isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { buildImage } from './helpers/images.js';

describe('writeExtendedImage (§5.1, §5.2)', () => {
  it('replaces a previous <kind> dir atomically and recovers one left aside by a crash', async () => {
    const scratch = await tmpDir();
    const ext = await tmpDir();
    const a = await buildImage(scratch);
    const b = await buildImage(scratch, { config: { User: '1' } });
    const base = { layerCount: 1, topDigest: a.layers[0]!.descriptor.digest };
    const w1 = await writeExtendedImage(ext, 'run', a, base);
    expect(w1.newLayers).toBe(1);
    expect(await readdir(join(ext, 'run'))).toEqual([a.digest]);
    expect(await readdir(join(w1.dir, 'blobs', 'sha256'))).toHaveLength(3); // manifest, config, layer 1
    // a crash between "old aside" and "new in": only .run-old-* exists. The next write puts it
    // back first, so even when that write fails the old state is what remains.
    await rename(join(ext, 'run'), join(ext, '.run-old-deadbeef'));
    await mkdir(join(ext, '.run-new-cafe'));
    const brokenScratch = await tmpDir();
    const c = await buildImage(brokenScratch, { config: { User: '2' }, layers: [[{ name: 'unique', content: 'c' }]] });
    await rm(join(brokenScratch, 'blobs'), { recursive: true });
    await expect(writeExtendedImage(ext, 'run', c, { layerCount: 0, topDigest: undefined })).rejects.toThrow();
    expect((await readdir(ext)).sort()).toEqual(['run']);
    expect(await readdir(join(ext, 'run'))).toEqual([a.digest]);
    const log = memoryLogger();
    await writeExtendedImage(ext, 'run', b, base, log);
    expect((await readdir(ext)).sort()).toEqual(['run']);
    expect(await readdir(join(ext, 'run'))).toEqual([b.digest]);
    const img = await (await OciLayout.open(join(ext, 'run', b.digest))).image();
    expect(img.config.config?.User).toBe('1');
  });

  it('a base without layers: every layer is new', async () => {
    const scratch = await tmpDir();
    const ext = await tmpDir();
    const img = await buildImage(scratch);
    const w = await writeExtendedImage(ext, 'build', img, { layerCount: 0, topDigest: undefined });
    expect(w.newLayers).toBe(2);
  });
});

describe('small helpers', () => {
  it('parseImageEnv splits on the first =, rejects entries without one', () => {
    expect(parseImageEnv(['A=1', 'B=x=y', 'C='])).toEqual([['A', '1'], ['B', 'x=y'], ['C', '']]);
    expect(() => parseImageEnv(['NOVALUE'])).toThrow(ExtenderError);
    expect(() => parseImageEnv(['NOVALUE'])).toThrow("parsing env 'NOVALUE': expected format 'key=value'");
    expect(parseImageEnv(undefined)).toEqual([]);
  });

  it('lookupUid reads <root>/etc/passwd, refusing a symlinked one', async () => {
    const root = await tmpDir();
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n# comment\ncnb:x:1234:1000:CNB,,,:/home/cnb:/bin/bash\n');
    expect(await lookupUid(root, 1234)).toEqual({ name: 'cnb', uid: 1234, gid: 1000, gecos: 'CNB,,,', home: '/home/cnb', shell: '/bin/bash' });
    expect(await lookupUid(root, 99)).toBeNull();
    const other = await tmpDir();
    await mkdir(join(other, 'etc'));
    await symlink('/etc/passwd', join(other, 'etc', 'passwd'));
    expect(await lookupUid(other, 0)).toBeNull();
  });

  it('canWrite: owner, group-writable for the group, world-writable', () => {
    expect(canWrite(5, 6, { uid: 5, gid: 0, mode: 0o700 })).toBe(true);
    expect(canWrite(5, 6, { uid: 0, gid: 6, mode: 0o770 })).toBe(true);
    expect(canWrite(5, 6, { uid: 0, gid: 6, mode: 0o750 })).toBe(false);
    expect(canWrite(5, 6, { uid: 0, gid: 0, mode: 0o777 })).toBe(true);
  });

  it.skipIf(!isRoot)('ensureOwner chowns a tree the user cannot write (symlinks not followed) and leaves a writable one', async () => {
    const d = await tmpDir();
    await mkdir(join(d, 'sub'));
    await writeFile(join(d, 'sub', 'f'), 'x');
    await symlink('/etc/hostname', join(d, 'link'));
    await ensureOwner(4321, 4322, d, join(d, 'missing'));
    for (const p of [d, join(d, 'sub'), join(d, 'sub', 'f')]) expect([(await stat(p)).uid, (await stat(p)).gid]).toEqual([4321, 4322]);
    expect((await lstat(join(d, 'link'))).uid).toBe(4321);
    expect((await stat('/etc/hostname').catch(() => ({ uid: 0 }))).uid).toBe(0);
    await chown(join(d, 'sub', 'f'), 0, 0);
    await ensureOwner(4321, 4322, d); // d is the user's: assumed fine below
    expect((await stat(join(d, 'sub', 'f'))).uid).toBe(0);
  });

  it('builderEnv: CNB_* pass through (not registry auth), the image Env overrides, HOME/USER last, PATH defaulted', () => {
    const env = builderEnv(
      { CNB_EXEC_ENV: 'test', CNB_REGISTRY_AUTH: '{"secret":1}', HOME: '/root', CNB_PLATFORM_API: '0.12' },
      [['CNB_EXEC_ENV', 'from-image'], ['HOME', '/image-home'], ['X', 'a=b']],
      '/home/cnb',
      'cnb',
      '0.13',
    );
    expect(env).toEqual(['CNB_EXEC_ENV=from-image', 'CNB_PLATFORM_API=0.13', 'HOME=/home/cnb', 'X=a=b', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'USER=cnb']);
  });

  it('builderBinds: <app>, <layers> rw, <platform> ro, files outside them, existing host dirs only', async () => {
    const root = await tmpDir();
    const dirs = { app: join(root, 'app'), layers: join(root, 'layers'), platform: join(root, 'platform'), bps: join(root, 'bps') };
    for (const d of Object.values(dirs)) await mkdir(d);
    await writeFile(join(root, 'group.toml'), '');
    const inputs = resolveInputPaths(inputsFromEnv({}, parseApiVersion('0.13')!, parseGoDuration), '/');
    const binds = await builderBinds({
      ...inputs,
      appDir: dirs.app,
      layersDir: dirs.layers,
      platformDir: dirs.platform,
      buildpacksDir: dirs.bps,
      buildConfigDir: join(root, 'missing'),
      groupPath: join(root, 'group.toml'),
      planPath: join(dirs.layers, 'plan.toml'),
      analyzedPath: join(root, 'missing.toml'),
    });
    expect(binds).toEqual([
      { source: dirs.app, target: dirs.app },
      { source: dirs.layers, target: dirs.layers },
      { source: dirs.platform, target: dirs.platform, readOnly: true },
      { source: join(root, 'group.toml'), target: join(root, 'group.toml'), readOnly: true },
      { source: dirs.bps, target: dirs.bps, readOnly: true },
    ]);
  });

  it('summary lines', () => {
    expect(formatDuration(340)).toBe('340ms');
    expect(formatDuration(4200)).toBe('4.2s');
    expect(formatDuration(125_000)).toBe('2m5s');
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(12_345_678)).toBe('12.3 MB');
    const reports = [
      { extensionId: 'curl', instruction: 'RUN apt-get update &&\n  apt-get install -y curl', durationMs: 4200, cache: 'miss' as const, layer: { digest: 'sha256:a' as never, diffID: 'sha256:b' as never, size: 12_300_000 } },
      { extensionId: 'curl', instruction: 'RUN echo hi', durationMs: 5, cache: 'bypass' as const, layer: null },
      { extensionId: 'tree', instruction: 'COPY x /', durationMs: 3, cache: 'hit' as const, layer: { digest: 'sha256:c' as never, diffID: 'sha256:d' as never, size: 100 } },
      { extensionId: 'tree', instruction: 'USER 1000', durationMs: 0, cache: 'none' as const, layer: null },
    ];
    expect(reports.map(formatStepLine)).toEqual([
      '[curl] RUN apt-get update && apt-get install -y curl (4.2s, cache miss, layer 12.3 MB)',
      '[curl] RUN echo hi (5ms, not cached: build_id in scope, no changes)',
      '[tree] COPY x / (3ms, cached, layer 100 B)',
      '[tree] USER 1000 (0ms)',
    ]);
    expect(formatSummary('run', totals(reports, 4300))).toBe('Extended run image: 4 steps (1 cache hit), 2 new layers (12.3 MB) in 4.3s');
  });
});
