// Concurrency on shared state, with the compiled binaries and the production runtime:
// - two and four extenders at once (build and run kinds; four = two builds sharing one
//   <kaniko-dir>, as a CI cache volume would) all succeed, the builder included, and every output
//   holds what a lone extender's does (config, history, every layer entry and its content);
// - two `apply` processes extracting the same base layer into one cold layer cache end with one
//   correct entry per layer and no temp entry.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout } from '../../oci/index.js';
import { verifyCache } from '../../snapshot/index.js';
import { readExtendedRunImage } from '../../src/exporter/index.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { entriesOf } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeTree, put, writeAnalyzed, writeGroup } from '../extender/helpers/cnb-tree.js';
import { scenario } from '../extender/helpers/scenario.js';
import { CLI, EXTENDER_CLI, hasDist, mountsUnder } from '../security/hostile.js';
import { runAndKill } from './crash.js';

const BUILD_CURL = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN mkdir -p /usr/bin && echo curl > /usr/bin/curl && chmod 755 /usr/bin/curl\nCOPY build-file /\n';
const BUILD_TREE = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo tree > /usr/bin/tree\nENV CNB_STACK_ID=stack-from-tree\n';
const RUN_CURL = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN mkdir -p /opt && dd if=/dev/zero of=/opt/big bs=1M count=8 2>/dev/null\nCOPY run-file /\nARG user_id\nUSER ${user_id}\n';
const RUN_TREE = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo tree > /opt/tree\nLABEL io.buildpacks.rebasable=true\nARG user_id\nUSER ${user_id}\n';

interface Lane {
  env: Record<string, string>;
  layers: string;
  extended: string;
}

/** A lifecycle tree (its own <layers>, <app>, <platform>) whose extenders use `kanikoDir`. */
async function lane(kanikoDir: string, ref: string): Promise<Lane> {
  const t = await makeTree();
  await writeAnalyzed(t, { build: ref, run: ref, extend: true });
  await writeGroup(t, [{ id: 'curl' }, { id: 'tree' }]);
  await put(join(t.layers, 'plan.toml'), '');
  await put(join(t.generated, 'curl', 'build.Dockerfile'), BUILD_CURL);
  await put(join(t.generated, 'curl', 'context.build', 'build-file'), 'build\n');
  await put(join(t.generated, 'curl', 'run.Dockerfile'), RUN_CURL);
  await put(join(t.generated, 'curl', 'context.run', 'run-file'), 'run\n');
  await put(join(t.generated, 'tree', 'build.Dockerfile'), BUILD_TREE);
  await put(join(t.generated, 'tree', 'run.Dockerfile'), RUN_TREE);
  const env = {
    CNB_PLATFORM_API: '0.13', CNB_LAYERS_DIR: t.layers, CNB_APP_DIR: t.app, CNB_PLATFORM_DIR: t.platform, CNB_KANIKO_DIR: kanikoDir,
    CNB_BUILDPACKS_DIR: join(t.root, 'no-buildpacks'), CNB_BUILD_CONFIG_DIR: join(t.root, 'no-build-config'),
  };
  return { env, layers: t.layers, extended: t.extended };
}

const ARGV = { build: ['-uid', '1000', '-gid', '1000'], run: ['-kind', 'run', '-uid', '1000', '-gid', '1000'] };

/**
 * What an extended image holds, independent of when it was built (file mtimes are real times: the
 * extender, like kaniko, is not reproducible across runs): the config and, per new layer, each
 * entry's name, type, mode, owner and content hash.
 */
async function contentOf(extended: string, kind: 'build' | 'run'): Promise<unknown> {
  const names = await readdir(join(extended, kind));
  expect(names).toHaveLength(1);
  const layout = await OciLayout.open(join(extended, kind, names[0]!), { verifySizes: false });
  const img = await layout.image();
  const layers: string[][] = [];
  for (const l of img.layers) {
    if (!(await layout.blobs.has(l.descriptor.digest))) continue; // a base layer (sparse layout)
    const chunks: Buffer[] = [];
    for await (const c of await l.openUncompressed()) chunks.push(c as Buffer);
    layers.push(entriesOf(Buffer.concat(chunks)).map((e) => `${e.name} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.sha256 ?? e.linkname ?? ''}`));
  }
  return { config: img.config.config, history: img.config.history?.map((h) => h.created_by), layers };
}

describe.runIf(isRoot && hasDist)('extenders sharing one <kaniko-dir>', () => {
  it.each([2, 4])('%i extenders at once (build and run kinds) all succeed with the output of a lone extender', async (n) => {
    // The reference: one lane alone, on its own <kaniko-dir>.
    const s = await scenario('0.13');
    const alone = await lane(s.t.kaniko, s.ref);
    for (const kind of ['build', 'run'] as const) {
      const r = await runAndKill(EXTENDER_CLI, ARGV[kind], alone.env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    const want = { build: await contentOf(alone.extended, 'build'), run: await contentOf(alone.extended, 'run') };

    // n extenders at once on a second, cold <kaniko-dir> holding the same base image.
    const shared = await scenario('0.13');
    const lanes = await Promise.all(Array.from({ length: n / 2 }, () => lane(shared.t.kaniko, shared.ref)));
    const jobs = lanes.flatMap((l) => (['build', 'run'] as const).map((kind) => ({ l, kind })));
    const results = await Promise.all(jobs.map(({ l, kind }) => runAndKill(EXTENDER_CLI, ARGV[kind], l.env)));
    for (const [i, r] of results.entries()) {
      expect({ job: i, code: r.code, error: /ERROR/.test(r.stdout) }, r.stdout + r.stderr).toEqual({ job: i, code: 0, error: false });
      if (jobs[i]!.kind === 'build') expect(r.stdout).toContain('builder ran');
    }
    for (const l of lanes) {
      expect(await contentOf(l.extended, 'build')).toEqual(want.build);
      expect(await contentOf(l.extended, 'run')).toEqual(want.run);
      const img = (await readExtendedRunImage(join(l.extended, 'run')))!;
      expect(img.extensionLayers.map((x) => x.createdBy)).toEqual([
        "Layer: 'RUN mkdir -p /opt && dd if=/dev/zero of=/opt/big bs=1M count=8 2>/dev/null', Created by extension: curl",
        "Layer: 'COPY run-file /', Created by extension: curl",
        "Layer: 'RUN echo tree > /opt/tree', Created by extension: tree",
      ]);
      expect(await readFile(join(l.layers, 'builder-record', 'usr-bin'), 'utf8')).toMatch(/^curl$/m);
    }
    expect(await readdir(shared.t.kaniko)).toEqual(['cache']);
    const fs = await verifyCache(join(shared.t.kaniko, 'cache', 'fs'), { deep: true });
    expect({ incomplete: fs.incomplete, corrupt: fs.corrupt, staleTemps: fs.staleTemps }).toEqual({ incomplete: [], corrupt: [], staleTemps: [] });
    expect(await mountsUnder(shared.t.root)).toEqual([]);
  }, 300_000);
});

describe.runIf(isRoot && hasDist)('two applies extracting the same base layer at once', () => {
  it('end with one correct cache entry per layer, no temp entry, both outputs the same image', async () => {
    const t = await tmpDir('cnbx-race-');
    const df = join(t, 'Dockerfile');
    await put(df, 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo hi > /hi\n');
    const base = `${fixture('debian')}:latest`;
    const cache = join(t, 'cache');
    for (const snapshotter of ['overlay', 'scan']) {
      const outs = [join(t, `${snapshotter}-a`), join(t, `${snapshotter}-b`)];
      const rs = await Promise.all(outs.map((o) => runAndKill(CLI, ['apply', '-base', base, '-dockerfile', df, '-output', `${o}:latest`, '-cache-dir', cache, '-snapshotter', snapshotter], { SOURCE_DATE_EPOCH: '1700000000' })));
      for (const r of rs) expect(r.code, r.stderr).toBe(0);
      const digests = await Promise.all(outs.map(async (o) => (await (await OciLayout.open(o)).image({ tag: 'latest' })).digest));
      expect(digests[0]).toBe(digests[1]);
    }
    const img = await (await OciLayout.open(fixture('debian'))).image({ tag: 'latest' });
    const report = await verifyCache(join(cache, 'layers'), { deep: true });
    expect(report.ok.filter((e) => e.startsWith('layers/')).sort()).toEqual(img.layers.map((l) => `layers/${l.diffID.slice(7)}`).sort());
    expect(report.ok.filter((e) => e.startsWith('merged/'))).toHaveLength(1);
    expect({ incomplete: report.incomplete, corrupt: report.corrupt, staleTemps: report.staleTemps }).toEqual({ incomplete: [], corrupt: [], staleTemps: [] });
    expect(await readdir(join(cache, 'layers', 'tmp'))).toEqual([]);
  }, 300_000);
});
