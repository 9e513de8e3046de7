// kind=build, end to end through the CLI with the fake engine and a real chroot of the extended
// rootfs for the builder: contract.md §7.1 X1/X2 and §9 items 4, 21, 22, 23.
import { readdir, readFile, stat, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout, validateLayout } from '../../oci/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { FakeEngine } from './helpers/fake-engine.js';
import { scenario } from './helpers/scenario.js';

const record = async (layers: string, f: string) => (await readFile(join(layers, 'builder-record', f), 'utf8')).trim();

describe.skipIf(!isRoot)('extender kind=build (X1, X2)', () => {
  it('X1: extends, saves <extended>/build/sha256:<d>, runs the builder as uid:gid with the extended Env, HOME and USER', async () => {
    const s = await scenario('0.13');
    await chmod(s.t.layers, 0o755); // not writable by 1000: the extender must chown it
    const r = await s.run([]);
    expect(r.stdout).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('builder ran');
    // the builder process
    expect(await record(s.t.layers, 'uid')).toBe('1000');
    expect(await record(s.t.layers, 'gid')).toBe('1000');
    expect(await record(s.t.layers, 'cwd')).toBe(s.t.app);
    const env = (await record(s.t.layers, 'env')).split('\n');
    expect(env).toContain('CNB_STACK_ID=stack-id-from-ext-tree');
    expect(env).toContain('HOME=/home/cnb');
    expect(env).toContain('USER=cnb');
    expect(env).toContain('CNB_PLATFORM_API=0.13');
    expect(env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(env.some((e) => e.startsWith('CNB_KANIKO_DIR='))).toBe(true); // our CNB_* reach it
    expect(await record(s.t.layers, 'usr-bin')).toMatch(/^curl$/m);
    expect(await record(s.t.layers, 'usr-bin')).toMatch(/^tree$/m);
    expect(await record(s.t.layers, 'args')).toBe(
      `-app ${s.t.app} -buildpacks ${join(s.t.root, 'no-buildpacks-on-host')} -group ${join(s.t.layers, 'group.toml')} -layers ${s.t.layers} ` +
        `-log-level debug -plan ${join(s.t.layers, 'plan.toml')} -platform ${s.t.platform} -build-config ${join(s.t.root, 'no-build-config-on-host')} -analyzed ${join(s.t.layers, 'analyzed.toml')}`,
    );
    // <layers> was chowned
    expect((await stat(s.t.layers)).uid).toBe(1000);
    expect((await stat(join(s.t.layers, 'group.toml'))).uid).toBe(1000);
    // the saved build image
    const names = await readdir(join(s.t.extended, 'build'));
    expect(names).toHaveLength(1);
    await validateLayout(join(s.t.extended, 'build', names[0]!), { allowMissingBlobs: true });
    const img = await (await OciLayout.open(join(s.t.extended, 'build', names[0]!))).image();
    expect(names[0]).toBe(img.digest);
    expect(img.config.config?.Env).toContain('CNB_STACK_ID=stack-id-from-ext-tree');
    expect(img.config.created).toBe('0001-01-01T00:00:00Z');
    expect(img.config.history).toHaveLength(img.config.rootfs.diff_ids.length);
    expect(img.config.config?.Labels?.['io.buildpacks.rebasable']).toBeUndefined();
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('X2: a second run reuses the cached RUN layers; the builder still finds their files', async () => {
    const s = await scenario('0.13');
    expect((await s.run([])).code).toBe(0);
    const warm = new FakeEngine();
    const r = await s.run([], {}, warm);
    expect(r.code).toBe(0);
    expect(warm.executed.filter((c) => c.includes('install'))).toEqual([]);
    expect(await record(s.t.layers, 'usr-bin')).toMatch(/^curl$/m);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('the builder exit code is passed through (51: buildpack failed)', async () => {
    const s = await scenario('0.13');
    const r = await s.run([], { CNB_TEST_BUILDER_EXIT: '51' });
    expect(r.code).toBe(51);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('uid 0 → `failed to build: refusing to run as root`, exit 1, after the image is saved', async () => {
    const s = await scenario('0.13');
    const r = await s.run(['-uid', '0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ERROR: failed to build: refusing to run as root');
    expect(await readdir(join(s.t.extended, 'build'))).toHaveLength(1);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('a uid without a passwd entry in the extended image → exit 1', async () => {
    const s = await scenario('0.13');
    const r = await s.run(['-uid', '4242']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ERROR: failed to set environment for user 4242: user: unknown userid 4242');
  });
});

describe('extender kind=build without the builder', () => {
  it('-skip-builder / CNB_SKIP_BUILDER: saves the image and stops', async () => {
    const s = await scenario('0.13');
    const r = await s.run(['-skip-builder']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('not running the builder (-skip-builder)');
    expect(await readdir(join(s.t.extended, 'build'))).toHaveLength(1);
    const r2 = await s.run([], { CNB_SKIP_BUILDER: 'true' });
    expect(r2.code).toBe(0);
    expect(r2.stdout).not.toContain('builder ran');
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('the build kind is the default; Platform 0.10 uses the old layout and <app> as context', async () => {
    const s = await scenario('0.10');
    const r = await s.run(['-skip-builder']);
    expect(r.code).toBe(0);
    expect(s.engine.contexts.map((c) => [c.kind, c.dockerfilePath, c.contextDir])).toEqual([
      ['build', join(s.t.generated, 'build', 'curl', 'Dockerfile'), s.t.app],
      ['build', join(s.t.generated, 'build', 'tree', 'Dockerfile'), s.t.app],
    ]);
  });
});
