// kill -9 at many points of `cnb-extender export` (the app image composed on an extended run
// image: base layers from the run-image layout, the extension layer re-tarred from
// <layers>/extended/run, an app layer of ~24 MB) into a new layout and into an existing one.
// After each kill: the output is absent or a complete, valid layout (a new one appears whole; an
// existing one keeps a valid index.json). The rerun succeeds and leaves no temp dirs or temp blobs.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout } from '../../oci/index.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { SHARED_FIXTURE_IMAGE } from '../exporter/helpers.js';
import { CLI, hasDist } from '../security/hostile.js';
import { CRASH_POINTS, expectAbsentOrValid, expectBlobsIntact, expectNoMounts, killPoints, leftovers, runAndKill, settle } from './crash.js';

describe.runIf(isRoot && hasDist && existsSync(SHARED_FIXTURE_IMAGE))('kill -9 during export', () => {
  it(`at ${CRASH_POINTS} points: output absent or valid, reruns succeed and clean up`, async () => {
    const root = await tmpDir('cnbx-crash-export-');
    const runDir = join(root, 'run-image');
    await cp(fixture('busybox'), runDir, { recursive: true });
    const run = await (await OciLayout.open(runDir)).image({ tag: 'latest' });
    const layers = join(root, 'layers');
    await mkdir(layers);
    await writeFile(join(layers, 'analyzed.toml'), `[run-image]\nreference = "${runDir}@${run.digest}"\nimage = "registry.example.com/run:1"\nextend = true\n`);
    await cp(SHARED_FIXTURE_IMAGE, join(layers, 'extended', 'run', basename(SHARED_FIXTURE_IMAGE)), { recursive: true });
    const app = join(root, 'workspace');
    await mkdir(app);
    for (let i = 0; i < 12; i++) await writeFile(join(app, `blob-${i}.bin`), randomBytes(2 << 20));
    const env = { CNB_PLATFORM_API: '0.13' };
    const argv = (out: string) => ['export', '-layers', layers, '-app', app, '-run', join(root, 'none.toml'), '-output', out, '-log-level', 'debug', 'my-app'];
    const expectImage = async (dir: string) => {
      const img = await (await OciLayout.open(dir)).image();
      expect(img.config.rootfs.diff_ids.length).toBeGreaterThanOrEqual(3);
    };

    const cal = await runAndKill(CLI, argv(join(root, 'out-cal')), env);
    expect(cal.code, cal.stdout + cal.stderr).toBe(0);
    await expectImage(join(root, 'out-cal'));
    const existing = join(root, 'out-existing');
    expect((await runAndKill(CLI, argv(existing), env)).code).toBe(0);

    const outcomes: string[] = [];
    for (const [i, delay] of killPoints(cal.ms, CRASH_POINTS).entries()) {
      const out = i % 2 === 1 ? existing : join(root, `out-${i}`);
      const r = await runAndKill(CLI, argv(out), env, delay, { mark: root });
      await settle(root);
      if (!r.killed) expect(r.code, r.stdout + r.stderr).toBe(0);
      await expectNoMounts([root]);
      const state = await expectAbsentOrValid(out, expectImage);
      outcomes.push(`${delay}ms:${r.killed ? 'killed' : 'finished'}:${state}`);

      const again = await runAndKill(CLI, argv(out), env);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      await expectAbsentOrValid(out, expectImage);
      expect(leftovers(root, /\.tmp/), 'temp output dirs').toEqual([]);
      expect(await expectBlobsIntact(join(out, 'blobs', 'sha256')), 'temp blobs in the output').toEqual([]);
    }
    console.log(`export kill points (run ${cal.ms} ms): ${outcomes.join(', ')}`);
  }, 60_000 + CRASH_POINTS * 30_000);
});
