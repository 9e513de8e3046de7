// SLOW (about a minute; set CNBX_SKIP_SLOW=1 to skip): the npm package as a user gets it. `npm pack`
// holds what an install needs and nothing else (dist, the native sources with binding.gyp, the
// fixture script and sample extension, docs); `npm install <tgz>` into an empty directory builds
// the native helper; `npx cnb-extender` runs, and `apply` builds the bundled sample extension on
// the busybox fixture.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateLayout } from '../../oci/index.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SLOW = process.env.CNBX_SKIP_SLOW !== '1';

function sh(cmd: string, args: string[], cwd: string, timeout = 600_000) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!SLOW || !existsSync(join(ROOT, 'dist/src/cli/bin.js')))('npm pack → npm install in an empty directory (slow)', () => {
  it('installs, builds the native helper, and runs cnb-extender and extender', { timeout: 900_000 }, async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const dir = await tmpDir('cnbx-pack-');
    // dist/ is built by `npm test` already: skip prepack's rebuild (it would rewrite dist/ under other tests).
    const pack = sh('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], ROOT);
    expect(pack.code, pack.out).toBe(0);
    const tgz = join(dir, `cnb-extender-${version}.tgz`);
    const files = sh('tar', ['-tzf', tgz], dir).out.split('\n').filter(Boolean);
    for (const f of [
      'dist/src/cli/bin.js', 'dist/src/cli/extender-bin.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/oci/index.d.ts',
      'dist/snapshot/index.js', 'dist/oci/schemas/config-schema.json', 'native/binding.gyp', 'native/src/chroot-helper.c',
      'native/src/addon.c', 'fixtures/make-fixtures.sh', 'fixtures/extensions/hello/run.Dockerfile', 'fixtures/extensions/hello/context/motd',
      'README.md', 'docs/cli.md', 'docs/api.md', 'package.json',
    ]) expect(files, f).toContain(`package/${f}`);
    expect(files.filter((f) => /^package\/(test|bench|scripts|src|oci|snapshot|native\/build|dist\/test|dist\/bench)\//.test(f) || f.endsWith('.map'))).toEqual([]);

    const app = join(dir, 'app');
    await mkdir(app);
    const install = sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tgz], app);
    expect(install.code, install.out).toBe(0);
    const pkg = join(app, 'node_modules', 'cnb-extender');
    expect(existsSync(join(pkg, 'native/build/Release/cnbx-chroot'))).toBe(true);
    expect(existsSync(join(pkg, 'native/build/Release/cnbx_native.node'))).toBe(true);

    const v = sh('npx', ['--no-install', 'cnb-extender', '--version'], app);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain(`cnb-extender ${version} (node `);
    const ev = sh(join(app, 'node_modules/.bin/extender'), ['-version'], app);
    expect(ev.out.trim()).toBe(version);

    if (!isRoot) return;
    const hello = join(pkg, 'fixtures/extensions/hello');
    const r = sh('npx', ['--no-install', 'cnb-extender', 'apply', '-base', `${fixture('busybox')}:latest`, '-dockerfile', join(hello, 'run.Dockerfile'),
      '-context', join(hello, 'context'), '-kind', 'run', '-build-arg', 'user_id=1000', '-output', 'out:latest', '-json', 'report.json', '-progress', 'plain'], app);
    expect(r.code, r.out).toBe(0);
    await validateLayout(join(app, 'out'));
    const report = JSON.parse(await readFile(join(app, 'report.json'), 'utf8')) as { status: string; newLayers: unknown[]; output: { digest: string } };
    expect(report.status).toBe('succeeded');
    expect(report.newLayers).toHaveLength(2);
    expect(r.out).toContain(report.output.digest);
  });
});
