import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGoDuration } from '../../src/cli/flags-duration.js';
import { parseApiVersion } from '../../src/cnb/index.js';
import { buildArgs, userFrom } from '../../src/extender/build-args.js';
import { findDockerfiles } from '../../src/extender/dockerfiles.js';
import { ExtenderError } from '../../src/extender/errors.js';
import { inputsFromEnv, resolveInputPaths } from '../../src/extender/inputs.js';
import { memoryLogger } from '../../src/log.js';
import { makeTree, put, writeDockerfile } from './helpers/cnb-tree.js';

const api = (s: string) => parseApiVersion(s)!;
const H = 3_600_000_000_000n;

describe('inputs: env > default, <layers> placeholders (§1.2, §9.3)', () => {
  it('defaults', () => {
    const i = resolveInputPaths(inputsFromEnv({}, api('0.13'), parseGoDuration), '/cwd');
    expect(i).toMatchObject({
      kind: 'build',
      analyzedPath: '/layers/analyzed.toml',
      appDir: '/workspace',
      buildpacksDir: '/cnb/buildpacks',
      buildConfigDir: '/cnb/build-config',
      extendedDir: '/layers/extended',
      generatedDir: '/layers/generated',
      groupPath: '/layers/group.toml',
      kanikoDir: '/kaniko',
      kanikoCacheTtlNs: 336n * H,
      layersDir: '/layers',
      logLevel: 'info',
      noColor: false,
      planPath: '/layers/plan.toml',
      platformDir: '/platform',
      skipBuilder: false,
      uid: 0,
      gid: 0,
      execEnv: 'production',
    });
  });

  it('every env var, and <layers>-relative defaults follow CNB_LAYERS_DIR', () => {
    const env = {
      CNB_LAYERS_DIR: '/l',
      CNB_APP_DIR: 'app',
      CNB_BUILDPACKS_DIR: '/bps',
      CNB_EXTEND_KIND: 'run',
      CNB_GROUP_ID: '1000',
      CNB_USER_ID: '1234',
      CNB_KANIKO_CACHE_TTL: '1h30m',
      CNB_KANIKO_DIR: '/k',
      CNB_LOG_LEVEL: 'debug',
      CNB_NO_COLOR: 'true',
      CNB_PLATFORM_DIR: '/p',
      CNB_SKIP_BUILDER: '1',
      CNB_PLAN_PATH: '<layers>/my-plan.toml',
    };
    const i = resolveInputPaths(inputsFromEnv(env, api('0.12'), parseGoDuration), '/cwd');
    expect(i).toMatchObject({
      kind: 'run',
      layersDir: '/l',
      analyzedPath: '/l/analyzed.toml',
      groupPath: '/l/group.toml',
      generatedDir: '/l/generated',
      extendedDir: '/l/extended',
      planPath: '/l/my-plan.toml',
      appDir: '/cwd/app',
      buildpacksDir: '/bps',
      gid: 1000,
      uid: 1234,
      kanikoCacheTtlNs: 90n * 60n * 1_000_000_000n,
      kanikoDir: '/k',
      logLevel: 'debug',
      noColor: true,
      platformDir: '/p',
      skipBuilder: true,
    });
    const j = inputsFromEnv({ CNB_ANALYZED_PATH: '/a.toml', CNB_GROUP_PATH: '/g.toml', CNB_GENERATED_DIR: '/gen', CNB_EXTENDED_DIR: '/ext' }, api('0.12'), parseGoDuration);
    expect(j).toMatchObject({ analyzedPath: '/a.toml', groupPath: '/g.toml', generatedDir: '/gen', extendedDir: '/ext' });
  });

  it('lenient env parsing like the lifecycle: bad TTL → 336h, bad ids → 0, bad bools → false', () => {
    const i = inputsFromEnv({ CNB_KANIKO_CACHE_TTL: '14d', CNB_USER_ID: 'cnb', CNB_GROUP_ID: '1.5', CNB_NO_COLOR: 'yes' }, api('0.12'), parseGoDuration);
    expect(i.kanikoCacheTtlNs).toBe(336n * H);
    expect([i.uid, i.gid, i.noColor]).toEqual([0, 0, false]);
  });

  it('CNB_EXTEND_KIND only selects run from Platform 0.12', () => {
    expect(inputsFromEnv({ CNB_EXTEND_KIND: 'run' }, api('0.11'), parseGoDuration).kind).toBe('build');
    expect(inputsFromEnv({ CNB_EXTEND_KIND: 'run' }, api('0.12'), parseGoDuration).kind).toBe('run');
  });
});

describe('build args (§2.5, §9.10)', () => {
  it('user_id/group_id split on the first colon, as the lifecycle does', () => {
    expect(userFrom('1000:1001')).toEqual({ userId: '1000', groupId: '1001' });
    expect(userFrom('cnb')).toEqual({ userId: 'cnb', groupId: '' });
    expect(userFrom('')).toEqual({ userId: '', groupId: '' });
    expect(userFrom(undefined)).toEqual({ userId: '', groupId: '' });
    expect(userFrom('a:b:c')).toEqual({ userId: 'a', groupId: 'b' });
  });

  it('order: build_id, user_id, group_id, extend-config args, base_image', () => {
    expect(
      buildArgs({ buildId: 'uuid', user: '1234:1000', extendConfigArgs: [{ name: 'b', value: '2' }, { name: 'a', value: '1' }], baseImage: 'base@sha256:x' }),
    ).toEqual([
      { name: 'build_id', value: 'uuid' },
      { name: 'user_id', value: '1234' },
      { name: 'group_id', value: '1000' },
      { name: 'b', value: '2' },
      { name: 'a', value: '1' },
      { name: 'base_image', value: 'base@sha256:x' },
    ]);
  });
});

describe('Dockerfile discovery (§2.1, §9.7–9.9)', () => {
  const exts = [{ id: 'curl', version: '1', api: '0.9' }, { id: 'org/tree', version: '1', api: '0.9' }, { id: 'none', version: '1', api: '0.9' }];

  it('Platform < 0.13: <generated>/<kind>/<esc-id>/Dockerfile, context <app>, *.ignore never', async () => {
    const t = await makeTree();
    await writeDockerfile(t, '0.12', 'run', 'curl', 'FROM x\n', { args: [{ name: 'A', value: '1' }] });
    await writeDockerfile(t, '0.12', 'run', 'org/tree', 'FROM x\n');
    await writeDockerfile(t, '0.12', 'build', 'none', 'FROM x\n');
    await put(join(t.generated, 'run', 'none', 'Dockerfile.ignore'), 'FROM y\n');
    // new-layout files are not looked at below 0.13
    await writeDockerfile(t, '0.13', 'run', 'none', 'FROM z\n');
    const log = memoryLogger();
    const found = await findDockerfiles(exts, { generatedDir: t.generated, appDir: t.app, platformApi: api('0.12'), kind: 'run', log });
    expect(found.map((f) => [f.extensionId, f.path, f.contextDir, f.args])).toEqual([
      ['curl', join(t.generated, 'run', 'curl', 'Dockerfile'), t.app, [{ name: 'A', value: '1' }]],
      ['org/tree', join(t.generated, 'run', 'org_tree', 'Dockerfile'), t.app, []],
    ]);
    expect(log.lines).toContain("debug: Found run Dockerfile for extension 'curl'");
  });

  it('Platform ≥ 0.13: <generated>/<esc-id>/<kind>.Dockerfile, context.<kind> > context > <app>', async () => {
    const t = await makeTree();
    await writeDockerfile(t, '0.13', 'build', 'curl', 'FROM x\n', { contexts: { 'context.build': { 'build-file': 'b' }, 'context.run': { 'run-file': 'r' }, context: { s: 's' } }, args: [{ name: 'B', value: 'b' }] });
    await writeDockerfile(t, '0.13', 'run', 'curl', 'FROM x\n');
    await writeDockerfile(t, '0.13', 'build', 'org/tree', 'FROM x\n', { contexts: { context: { 'shared-file': 's' } } });
    await put(join(t.generated, 'none', 'run.Dockerfile.ignore'), 'FROM y\n');
    await writeDockerfile(t, '0.13', 'build', 'none', 'FROM x\n');
    const build = await findDockerfiles(exts, { generatedDir: t.generated, appDir: t.app, platformApi: api('0.13'), kind: 'build' });
    expect(build.map((f) => [f.extensionId, f.path, f.contextDir, f.args])).toEqual([
      ['curl', join(t.generated, 'curl', 'build.Dockerfile'), join(t.generated, 'curl', 'context.build'), [{ name: 'B', value: 'b' }]],
      ['org/tree', join(t.generated, 'org_tree', 'build.Dockerfile'), join(t.generated, 'org_tree', 'context'), []],
      ['none', join(t.generated, 'none', 'build.Dockerfile'), t.app, []],
    ]);
    const run = await findDockerfiles(exts, { generatedDir: t.generated, appDir: t.app, platformApi: api('0.15'), kind: 'run' });
    expect(run.map((f) => [f.extensionId, f.contextDir, f.args])).toEqual([['curl', join(t.generated, 'curl', 'context.run'), []]]);
  });

  it('a bad extend-config.toml is EXTEND_CONFIG naming the file; a directory in place of the Dockerfile is DOCKERFILE', async () => {
    const t = await makeTree();
    await writeDockerfile(t, '0.13', 'run', 'curl', 'FROM x\n');
    await put(join(t.generated, 'curl', 'extend-config.toml'), '[[run.args]]\nname = 3\n');
    const e = await findDockerfiles(exts, { generatedDir: t.generated, appDir: t.app, platformApi: api('0.13'), kind: 'run' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExtenderError);
    expect((e as ExtenderError).code).toBe('EXTEND_CONFIG');
    expect(((e as ExtenderError).cause as Error).message).toMatch(/extend-config\.toml: key "run\.args\[0\]\.name": expected a string, got integer/);
    await mkdir(join(t.generated, 'org_tree', 'run.Dockerfile'), { recursive: true });
    const e2 = await findDockerfiles([exts[1]!], { generatedDir: t.generated, appDir: t.app, platformApi: api('0.13'), kind: 'run' }).catch((x: unknown) => x);
    expect((e2 as ExtenderError).code).toBe('DOCKERFILE');
  });
});
