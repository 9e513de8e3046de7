// SLOW (minutes the first time: the node fixture is built with debootstrap and apt; set
// CNBX_SKIP_SLOW=1 to skip): packaging/build-image.sh builds the tool's own container image with
// the packed cnb-extender, applying packaging/Dockerfile onto the node fixture. The result is a
// valid OCI layout whose entrypoint is /cnb/lifecycle/extender, and that extender runs inside the
// image's root filesystem.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout, validateLayout } from '../../oci/index.js';
import { hasCommand, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SLOW = process.env.CNBX_SKIP_SLOW !== '1';

describe.skipIf(!SLOW || !isRoot || !existsSync(join(ROOT, 'dist/src/cli/bin.js')))('packaging/build-image.sh (slow)', () => {
  it('builds the tool image with cnb-extender apply; /cnb/lifecycle/extender runs in it', { timeout: 1_800_000 }, async () => {
    const dir = await tmpDir('cnbx-image-');
    const out = join(dir, 'image');
    const report = join(dir, 'report.json');
    const r = spawnSync('bash', [join(ROOT, 'packaging/build-image.sh'), out], {
      encoding: 'utf8',
      timeout: 1_700_000,
      env: { ...process.env, CNBX_SKIP_BUILD: '1', CNBX_JSON: report, CNBX_PROGRESS: 'plain' },
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);

    await validateLayout(out);
    const img = await (await OciLayout.open(out)).image({ tag: 'latest' });
    expect(img.config.config?.Entrypoint).toEqual(['/cnb/lifecycle/extender']);
    expect(img.config.config?.Env).toContain('CNB_KANIKO_DIR=/kaniko');
    const rep = JSON.parse(await readFile(report, 'utf8')) as { status: string; steps: { instruction: string }[] };
    expect(rep.status).toBe('succeeded');
    expect(rep.steps.map((s) => s.instruction)).toContain('COPY cnb-extender /opt/cnb-extender');

    expect(hasCommand('umoci')).toBe(true);
    const bundle = join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${out}:latest`, bundle], { stdio: 'pipe' });
    const rootfs = join(bundle, 'rootfs');
    expect(readlinkSync(join(rootfs, 'cnb/lifecycle/extender'))).toBe('/opt/cnb-extender/node_modules/.bin/extender');
    expect(existsSync(join(rootfs, 'opt/cnb-extender/node_modules/cnb-extender/native/build/Release/cnbx-chroot'))).toBe(true);
    // The phase runs in the image: its own Node, its own files, nothing from the host.
    const v = spawnSync('chroot', [rootfs, '/cnb/lifecycle/extender', '-version'], { encoding: 'utf8', env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' } });
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(v.stdout.trim(), v.stderr).toBe(version);
    const help = spawnSync('chroot', [rootfs, '/cnb/lifecycle/extender', '-help'], { encoding: 'utf8', env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' } });
    expect(help.status).toBe(0);
    expect(help.stderr).toMatch(/^Usage of extender:/);
  });
});
