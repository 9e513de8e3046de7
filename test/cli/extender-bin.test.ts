// The compiled `extender` binary (dist/, built by `npm test`), end to end with the production
// runtime: real build engine, snapshotter and chroot executor on the busybox fixture.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readExtendedRunImage } from '../../src/exporter/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { put } from '../extender/helpers/cnb-tree.js';
import { scenario } from '../extender/helpers/scenario.js';

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/extender-bin.js');

function extender(argv: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BIN, ...argv], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!existsSync(BIN))('dist/src/cli/extender-bin.js', () => {
  it('exit codes without work: 11 (no Platform API), 2 (bad flag), 3 (positional), 0 (-version)', () => {
    expect(extender([], {}).code).toBe(11);
    expect(extender(['-nope'], { CNB_PLATFORM_API: '0.13' }).code).toBe(2);
    expect(extender(['x'], { CNB_PLATFORM_API: '0.13' }).code).toBe(3);
    const v = extender(['-version'], {});
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.skipIf(!isRoot)('kind=run on busybox with the production runtime', async () => {
    const s = await scenario('0.13');
    await put(
      join(s.t.generated, 'curl', 'run.Dockerfile'),
      'ARG base_image\nFROM ${base_image}\nUSER root\nRUN mkdir -p /opt && echo hi > /opt/hi && echo wrote hi\nCOPY run-file /\nARG user_id\nUSER ${user_id}\n',
    );
    await put(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nLABEL io.buildpacks.rebasable=true\n');
    const r = extender(['-kind', 'run', '-uid', '1000', '-gid', '1000'], s.env);
    expect(r.stdout).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote hi$/m);
    const img = (await readExtendedRunImage(join(s.t.extended, 'run')))!;
    expect(img.extensionLayers.map((l) => l.createdBy)).toEqual([
      "Layer: 'RUN mkdir -p /opt && echo hi > /opt/hi && echo wrote hi', Created by extension: curl",
      "Layer: 'COPY run-file /', Created by extension: curl",
    ]);
    expect(img.config.config?.Labels?.['io.buildpacks.rebasable']).toBe('false');
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
    const again = extender(['-kind', 'run', '-uid', '1000', '-gid', '1000'], s.env);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/^wrote hi$/m);
    expect((await readExtendedRunImage(join(s.t.extended, 'run')))!.manifestDigest).toBe(img.manifestDigest);
  });

  it.skipIf(!isRoot)('kind=build with the production runtime refuses to run the builder without executor binds, but -skip-builder works', async () => {
    const s = await scenario('0.13');
    await put(join(s.t.generated, 'curl', 'build.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo x > /x\nUSER 1000\n');
    await put(join(s.t.generated, 'tree', 'build.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nENV A=1\n');
    const skip = extender(['-skip-builder', '-uid', '1000', '-gid', '1000'], s.env);
    expect(skip.stdout).not.toMatch(/ERROR/);
    expect(skip.code).toBe(0);
    const r = extender(['-uid', '1000', '-gid', '1000'], s.env);
    expect([0, 1]).toContain(r.code); // 0 once ChrootExecutor supports binds
    if (r.code === 1) expect(r.stdout).toContain('running the builder needs bind mounts in the chroot executor');
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });
});
