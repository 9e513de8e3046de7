// The extender with the real build engine (src/build on a snapshotter, RUN in the chroot
// executor) on the busybox fixture: the acceptance scenarios X1–X4 with commands busybox has.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/extender.js';
import { defaultExtenderRuntime } from '../../src/cli/extender-runtime.js';
import { readExtendedRunImage } from '../../src/exporter/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { put } from './helpers/cnb-tree.js';
import { entriesOf } from '../helpers/tar.js';
import { captureIO, extractRootfs, UnshareChrootExecutor } from './helpers/runtime.js';
import { scenario, type Scenario } from './helpers/scenario.js';

const CURL_RUN = `ARG base_image
FROM \${base_image}

USER root
RUN mkdir -p /opt/bin && echo curl > /opt/bin/curl && echo installed curl
COPY run-file /

ARG build_id=0
RUN echo \${build_id}

# <app> is ignored: this must not create a layer
RUN mkdir -p /workspace && echo "some-content" > /workspace/some-file

ARG user_id
USER \${user_id}
`;
const TREE_RUN = `ARG base_image
FROM \${base_image}

USER root
RUN mkdir -p /opt/bin && echo tree > /opt/bin/tree && echo installed tree
COPY shared-file /shared-run

ENV CNB_STACK_ID=stack-id-from-ext-tree

ARG build_id=0
RUN echo \${build_id}

LABEL io.buildpacks.rebasable=true

ARG user_id
USER \${user_id}
`;
const CURL_BUILD = `ARG base_image
FROM \${base_image}
USER root
RUN mkdir -p /usr/bin && echo curl > /usr/bin/curl && chmod 755 /usr/bin/curl && echo installed curl
COPY build-file /
ARG build_id=0
RUN echo \${build_id}
`;
const TREE_BUILD = `ARG base_image
FROM \${base_image}
USER root
RUN echo tree > /usr/bin/tree && echo installed tree
COPY shared-file /shared-build
ENV CNB_STACK_ID=stack-id-from-ext-tree
`;

async function realRun(s: Scenario, argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string }> {
  const c = captureIO();
  const rt = defaultExtenderRuntime({ cwd: '/', out: (l) => c.io.stdout.write(`${l}\n`) });
  const executor = new UnshareChrootExecutor();
  const code = await main(['-log-level', 'info', '-uid', '1000', '-gid', '1000', ...argv], { ...s.env, ...env }, c.io, {
    ...rt,
    // the builder runs in a minimal unshare/chroot executor here; productionRun below uses ChrootExecutor
    createBuilderRuntime: async () => ({ openRootfs: extractRootfs, executor }),
  });
  return { code, stdout: c.out() };
}

/** The extender exactly as the binary runs it: the builder too runs in the production chroot executor (binds). */
async function productionRun(s: Scenario, argv: string[]): Promise<{ code: number; stdout: string }> {
  const c = captureIO();
  const rt = defaultExtenderRuntime({ cwd: '/', out: (l) => c.io.stdout.write(`${l}\n`) });
  const code = await main(['-log-level', 'info', '-uid', '1000', '-gid', '1000', ...argv], s.env, c.io, rt);
  return { code, stdout: c.out() };
}

async function readAll(r: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(!isRoot)('extender with the real build engine (busybox)', () => {
  it('X3/X4: kind=run output, history, label; a warm run executes no cached RUN and gives the same digest', async () => {
    const s = await scenario('0.13');
    await put(join(s.t.generated, 'curl', 'run.Dockerfile'), CURL_RUN);
    await put(join(s.t.generated, 'tree', 'run.Dockerfile'), TREE_RUN);
    // <app> as in a real build, so that the RUN writing to /workspace is ignored
    const r1 = await realRun(s, ['-kind', 'run', '-app', '/workspace']);
    expect(r1.stdout).not.toMatch(/ERROR/);
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(/^installed curl$/m);
    const img1 = (await readExtendedRunImage(join(s.t.extended, 'run')))!;
    expect(img1.config.config?.Labels?.['io.buildpacks.rebasable']).toBe('false');
    expect(img1.config.history).toHaveLength(img1.config.rootfs.diff_ids.length);
    expect(img1.extensionLayers.map((l) => l.createdBy)).toEqual([
      "Layer: 'RUN mkdir -p /opt/bin && echo curl > /opt/bin/curl && echo installed curl', Created by extension: curl",
      "Layer: 'COPY run-file /', Created by extension: curl",
      "Layer: 'RUN mkdir -p /opt/bin && echo tree > /opt/bin/tree && echo installed tree', Created by extension: tree",
      "Layer: 'COPY shared-file /shared-run', Created by extension: tree",
    ]);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);

    // produced layers: relative names, no uname/gname (§9.14)
    for (const l of img1.extensionLayers) {
      for (const e of entriesOf(await readAll(await (await l.openTar()).tar))) {
        expect(e.name.startsWith('/')).toBe(false);
        expect([e.uname, e.gname]).toEqual(['', '']);
        expect(e.name.startsWith('workspace')).toBe(false);
      }
    }
    const r2 = await realRun(s, ['-kind', 'run', '-app', '/workspace']);
    expect(r2.code).toBe(0);
    expect(r2.stdout).not.toMatch(/^installed curl$/m);
    expect(r2.stdout).not.toMatch(/^installed tree$/m);
    expect(r2.stdout).toMatch(/\(4 cache hits\)/);
    const img2 = (await readExtendedRunImage(join(s.t.extended, 'run')))!;
    expect(img2.manifestDigest).toBe(img1.manifestDigest);
    expect(await readdir(join(s.t.extended, 'run'))).toHaveLength(1);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('X1/X2: kind=build, then the builder sees the extension files and Env as uid 1000', async () => {
    const s = await scenario('0.13');
    await put(join(s.t.generated, 'curl', 'build.Dockerfile'), CURL_BUILD);
    await put(join(s.t.generated, 'tree', 'build.Dockerfile'), TREE_BUILD);
    const r1 = await realRun(s, []);
    expect(r1.stdout).not.toMatch(/ERROR/);
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(/^installed curl$/m);
    expect(r1.stdout).toContain('builder ran');
    const env = await readFile(join(s.t.layers, 'builder-record', 'env'), 'utf8');
    expect(env).toMatch(/^CNB_STACK_ID=stack-id-from-ext-tree$/m);
    expect(env).toMatch(/^HOME=\/home\/cnb$/m);
    expect((await readFile(join(s.t.layers, 'builder-record', 'uid'), 'utf8')).trim()).toBe('1000');
    expect(await readFile(join(s.t.layers, 'builder-record', 'usr-bin'), 'utf8')).toMatch(/^curl$/m);
    const r2 = await realRun(s, []);
    expect(r2.code).toBe(0);
    expect(r2.stdout).not.toMatch(/^installed curl$/m);
    expect(await readFile(join(s.t.layers, 'builder-record', 'usr-bin'), 'utf8')).toMatch(/^curl$/m);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('X1 with the production runtime: the builder runs in the chroot executor with <app>, <layers>, <platform> bound in', async () => {
    const s = await scenario('0.13');
    await put(join(s.t.generated, 'curl', 'build.Dockerfile'), CURL_BUILD);
    await put(join(s.t.generated, 'tree', 'build.Dockerfile'), TREE_BUILD);
    const r = await productionRun(s, []);
    expect(r.stdout).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('builder ran');
    const env = await readFile(join(s.t.layers, 'builder-record', 'env'), 'utf8');
    expect(env).toMatch(/^CNB_STACK_ID=stack-id-from-ext-tree$/m);
    expect(env).toMatch(/^HOME=\/home\/cnb$/m);
    expect((await readFile(join(s.t.layers, 'builder-record', 'uid'), 'utf8')).trim()).toBe('1000');
    expect(await readFile(join(s.t.layers, 'builder-record', 'usr-bin'), 'utf8')).toMatch(/^curl$/m);
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });
});
