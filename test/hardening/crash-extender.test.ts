// kill -9 at many points of `extender -kind run` (the compiled lifecycle phase, production
// runtime: build engine, overlay snapshotter, chroot executor) sharing one <kaniko-dir> across
// attempts. Each attempt passes a new extend-config arg, so it stores new step-cache entries
// (and its `build_id` steps always run). After each kill: no mount left, `<extended>/run` absent
// or exactly one complete image, the layer cache and the step cache consistent. A rerun then
// succeeds and leaves <kaniko-dir> holding only `cache`, with no temp entries of the killed run.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateLayout } from '../../oci/index.js';
import { readExtendedRunImage } from '../../src/exporter/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { put } from '../extender/helpers/cnb-tree.js';
import { scenario } from '../extender/helpers/scenario.js';
import { EXTENDER_CLI, hasDist } from '../security/hostile.js';
import {
  CRASH_POINTS, expectLayerCacheConsistent, expectNoMounts, expectStepCacheConsistent, killPoints, leftovers, runAndKill, settle,
} from './crash.js';

const RUN_DF = `ARG base_image
FROM \${base_image}
ARG attempt
USER root
RUN mkdir -p /opt/a && for i in 1 2 3 4 5 6; do dd if=/dev/urandom of=/opt/a/f$i bs=1M count=2 2>/dev/null; done && echo "$attempt" > /opt/a/attempt
COPY run-file /opt/run-file
ARG build_id=0
RUN echo "\${build_id}" > /opt/build-id
ARG user_id
USER \${user_id}
`;

describe.runIf(isRoot && hasDist)('kill -9 during extender -kind run', () => {
  it(`at ${CRASH_POINTS} points: output absent or complete, caches consistent, reruns succeed and clean up`, async () => {
    const s = await scenario('0.13');
    await put(join(s.t.generated, 'curl', 'run.Dockerfile'), RUN_DF);
    await put(join(s.t.generated, 'curl', 'context.run', 'run-file'), 'run\n');
    await put(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nLABEL io.buildpacks.rebasable=true\n');
    const argv = ['-kind', 'run', '-uid', '1000', '-gid', '1000', '-log-level', 'debug'];
    const attempt = (i: number | string) => put(join(s.t.generated, 'curl', 'extend-config.toml'), `[[run.args]]\nname = "attempt"\nvalue = "${i}"\n`);
    const runDir = join(s.t.extended, 'run');
    const checkOutput = async (mustExist: boolean) => {
      const names = await readdir(runDir).catch(() => null);
      if (names === null) {
        expect(mustExist, 'no <extended>/run').toBe(false);
        return 'absent';
      }
      expect(names, '<extended>/run holds one image').toHaveLength(1);
      await validateLayout(join(runDir, names[0]!), { allowMissingBlobs: true });
      const img = await readExtendedRunImage(runDir);
      expect(img?.extensionLayers.length).toBe(3);
      return 'complete';
    };
    const checkCaches = async (sweep: boolean) => {
      await expectLayerCacheConsistent(join(s.t.kaniko, 'cache', 'fs'), { sweep });
      return expectStepCacheConsistent(join(s.t.kaniko, 'cache', 'layers'));
    };

    // Calibrate on a warm run (the base extracted, earlier steps cached): what most attempts are.
    await attempt('cold');
    expect((await runAndKill(EXTENDER_CLI, argv, s.env)).code).toBe(0);
    await attempt('cal');
    const cal = await runAndKill(EXTENDER_CLI, argv, s.env);
    expect(cal.code, cal.stdout + cal.stderr).toBe(0);
    await checkOutput(true);

    const outcomes: string[] = [];
    for (const [i, delay] of killPoints(cal.ms, CRASH_POINTS).entries()) {
      await attempt(i);
      const r = await runAndKill(EXTENDER_CLI, argv, s.env, delay, { mark: s.t.root });
      await settle(s.t.root);
      if (!r.killed) expect(r.code, r.stdout).toBe(0);
      await expectNoMounts([s.t.root]);
      // The previous image stays until the new one replaces it in one rename pair: never absent.
      const state = await checkOutput(true);
      await checkCaches(false);
      outcomes.push(`${delay}ms:${r.killed ? 'killed' : 'finished'}:${state}`);

      const again = await runAndKill(EXTENDER_CLI, argv, s.env);
      expect(again.code, again.stdout).toBe(0);
      expect(again.stdout).not.toMatch(/ERROR/);
      await checkOutput(true);
      await expectNoMounts([s.t.root]);
      expect(await readdir(s.t.kaniko), '<kaniko-dir> holds only cache').toEqual(['cache']);
      expect(leftovers(join(s.t.kaniko, 'cache', 'fs', 'tmp'), /./), 'layer cache temp entries').toEqual([]);
      expect(leftovers(s.t.extended, /^\./), 'swap leftovers in <extended>').toEqual([]);
      expect(await checkCaches(true), 'step cache temp files').toEqual([]);
    }
    console.log(`extender kill points (run ${cal.ms} ms): ${outcomes.join(', ')}`);
  }, 60_000 + CRASH_POINTS * 40_000);
});
