// kill -9 at many points of `cnb-extender restore` pulling a build image (the debian fixture, one
// ~50 MB layer) and an extended run image from a real local registry (docker-registry) into
// <kaniko-dir>/cache/base. After each kill: analyzed.toml is the old file or the complete new
// one, and every base-cache entry is a complete, valid, full layout (an entry appears only whole).
// The rerun on the same <kaniko-dir> succeeds, records both references, and leaves no temp dirs
// or temp blobs of the killed pull.
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, validateLayout, withConfigFile, type Registry } from '../../oci/index.js';
import { parseAnalyzed, parseToml } from '../../src/cnb/index.js';
import { fixture, hasCommand, isRoot } from '../helpers/fixtures.js';
import { useRegistry } from '../helpers/registry.js';
import { clientFor } from '../oci/registry/support.js';
import { analyzedToml, cnbTree, runToml } from '../restorer/helpers.js';
import { CLI, hasDist } from '../security/hostile.js';
import { CRASH_POINTS, expectBlobsIntact, expectNoMounts, killPoints, leftovers, runAndKill, settle } from './crash.js';

describe.runIf(isRoot && hasDist && hasCommand('docker-registry'))('kill -9 during restore', () => {
  const server = useRegistry();
  let reg: Registry;
  let host: string;
  beforeAll(async () => {
    host = server().host;
    reg = clientFor(host);
    const debian = await (await OciLayout.open(fixture('debian'))).image({ tag: 'latest' });
    const busybox = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
    const run = withConfigFile(busybox, (c) => ({ ...c, config: { ...c.config, Labels: { 'io.buildpacks.base.id': 'io.example.busybox' } } }));
    await reg.write(`${host}/crash/build:latest`, debian);
    await reg.write(`${host}/crash/run:latest`, run);
  });
  afterAll(async () => {
    await reg?.close();
  });

  it(`at ${CRASH_POINTS} points: analyzed.toml old or new, base-cache entries whole, reruns succeed and clean up`, async () => {
    const build = `${host}/crash/build:latest`;
    const runImage = `${host}/crash/run:latest`;
    const analyzed = analyzedToml({ image: runImage, extend: true });
    const fresh = async () => {
      const t = await cnbTree({ analyzed, run: runToml([{ image: runImage }]) });
      const argv = ['restore', '-layers', t.layers, '-kaniko-dir', t.kaniko, '-analyzed', t.analyzed, '-group', t.group, '-run', t.run,
        '-build-image', build, '-insecure-registry', host, '-log-level', 'debug'];
      return { t, argv };
    };
    const env = { CNB_PLATFORM_API: '0.14' };
    const baseDir = (t: { kaniko: string }) => join(t.kaniko, 'cache', 'base');
    const checkEntries = async (t: { kaniko: string }) => {
      const names = existsSync(baseDir(t)) ? await readdir(baseDir(t)) : [];
      for (const n of names.filter((x) => x.startsWith('sha256:'))) {
        await validateLayout(join(baseDir(t), n));
        expect(await expectBlobsIntact(join(baseDir(t), n, 'blobs', 'sha256')), `temp blobs in ${n}`).toEqual([]);
      }
      return names;
    };

    const cal = await fresh();
    const c = await runAndKill(CLI, cal.argv, env);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect((await checkEntries(cal.t)).sort()).toHaveLength(2);

    const outcomes: string[] = [];
    for (const delay of killPoints(c.ms, CRASH_POINTS)) {
      const { t, argv } = await fresh();
      const r = await runAndKill(CLI, argv, env, delay, { mark: t.root });
      await settle(t.root);
      if (!r.killed) expect(r.code, r.stdout + r.stderr).toBe(0);
      await expectNoMounts([t.root]);
      const text = await readFile(t.analyzed, 'utf8');
      const now = parseAnalyzed(parseToml(text, t.analyzed), t.analyzed);
      const updated = text !== analyzed;
      if (updated) expect([now.buildImage?.reference, now.runImage?.reference].every((x) => x?.includes('@sha256:'))).toBe(true);
      const entries = (await checkEntries(t)).filter((n) => n.startsWith('sha256:'));
      outcomes.push(`${delay}ms:${r.killed ? 'killed' : 'finished'}:${entries.length} entries${updated ? ', analyzed updated' : ''}`);

      const again = await runAndKill(CLI, argv, env);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const after = parseAnalyzed(parseToml(await readFile(t.analyzed, 'utf8'), t.analyzed), t.analyzed);
      expect(after.buildImage?.reference).toMatch(new RegExp(`^${host}/crash/build@sha256:[a-f0-9]{64}$`));
      expect(after.runImage?.reference).toMatch(new RegExp(`^${host}/crash/run@sha256:[a-f0-9]{64}$`));
      expect((await checkEntries(t)).sort(), 'only the two entries in cache/base').toEqual(
        [after.buildImage!.reference.split('@')[1]!, after.runImage!.reference.split('@')[1]!].sort(),
      );
      expect(leftovers(t.layers, /\.tmp/), 'temp files beside analyzed.toml').toEqual([]);
      expect(await readdir(t.kaniko)).toEqual(['cache']);
    }
    await writeFile(join(cal.t.root, 'outcomes'), outcomes.join('\n'));
    console.log(`restore kill points (run ${c.ms} ms): ${outcomes.join(', ')}`);
  }, 90_000 + CRASH_POINTS * 40_000);
});
