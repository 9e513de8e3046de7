// exportImage with a real registry (Debian's docker-registry): base blobs a sparse run-image layout
// lacks are fetched from the run image's registry, a registry run image can be the base, and a
// push gives the same config and diffIDs as the layout export.
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateLayout, type Image } from '../../oci/index.js';
import { exportImage, type ExportImageOptions } from '../../src/exporter/index.js';
import { memoryLogger } from '../../src/log.js';
import { fixture } from '../helpers/fixtures.js';
import { useRegistry } from '../helpers/registry.js';
import { tmpDir } from '../helpers/tmp.js';
import { SHARED_FIXTURE_IMAGE, busyboxRunImage, registryClients } from './helpers.js';

const reg = useRegistry();
let busybox: string;
beforeAll(() => {
  busybox = fixture('busybox');
});
const client = registryClients(() => reg().host);

async function setup(sparseRunLayout: boolean): Promise<{ root: string; run: Image; runRef: string; opts: (o?: Partial<ExportImageOptions>) => ExportImageOptions }> {
  const root = await tmpDir();
  const runDir = join(root, 'run-image');
  const { layout, run } = await busyboxRunImage(busybox, runDir, { createdBy: 'extra', replaceIndex: true });
  const repo = `run${Math.random().toString(36).slice(2, 8)}`;
  const runRef = `${reg().host}/${repo}:latest`;
  await client().write(runRef, run);
  if (sparseRunLayout) for (const l of run.manifest.layers) await rm(layout.blobs.path(l.digest));
  await writeFile(join(root, 'analyzed.toml'), `[run-image]\nreference = "${runDir}@${run.digest}"\nimage = "${runRef}"\nextend = true\n`);
  await writeFile(join(root, 'run.toml'), `[[images]]\nimage = "${runRef}"\n`);
  const layers = join(root, 'layers');
  await mkdir(layers);
  await cp(SHARED_FIXTURE_IMAGE, join(layers, 'extended', 'run', basename(SHARED_FIXTURE_IMAGE)), { recursive: true });
  const app = join(root, 'app');
  await mkdir(app);
  await writeFile(join(app, 'app.txt'), 'app\n');
  return {
    root, run, runRef,
    opts: (o = {}) => ({
      platformApi: '0.13', analyzedPath: join(root, 'analyzed.toml'), runPath: join(root, 'run.toml'), layersDir: layers, appDir: '/workspace',
      appLayers: [{ createdBy: 'Application Layer', dir: app, target: '/workspace' }],
      output: { kind: 'layout', dir: join(root, 'out'), tag: 'app' }, registry: client(), env: {}, ...o,
    }),
  };
}

describe('exportImage with a registry', () => {
  it('fills a full layout from the run image registry when the run-image layout is sparse (#1102)', async () => {
    const s = await setup(true);
    const log = memoryLogger();
    const res = await exportImage(s.opts({ log }));
    await validateLayout(join(s.root, 'out'));
    expect(res.image.config.rootfs.diff_ids.slice(0, 2)).toEqual(s.run.config.rootfs.diff_ids);
    expect(log.lines.some((l) => l.includes('Fetching 2 base layer blob(s)') && l.includes(s.runRef.split(':latest')[0]!))).toBe(true);
  });

  it('pushes: only new blobs are uploaded, and the config and diffIDs equal the layout export', async () => {
    const s = await setup(true);
    const layoutRes = await exportImage(s.opts({ output: { kind: 'layout', dir: join(s.root, 'sparse'), sparse: true } }));
    const appRef = `${reg().host}/app${Math.random().toString(36).slice(2, 8)}:latest`;
    const regLog = memoryLogger();
    const pushRes = await exportImage(s.opts({ output: { kind: 'registry', reference: appRef }, workDir: join(s.root, 'work'), registry: client(regLog) }));
    // the two base layers are mounted from the run image repository, never read (the layout is sparse)
    expect(regLog.lines.find((l) => l.includes(`push ${appRef}`))).toContain('6 blobs (4 uploaded, 2 mounted)');
    expect(pushRes.image.manifest.config.digest).toBe(layoutRes.image.manifest.config.digest);
    const pulled = await client().image(appRef);
    expect(pulled.config.rootfs.diff_ids).toEqual(layoutRes.image.config.rootfs.diff_ids);
    expect(pulled.rawConfig.equals(layoutRes.image.rawConfig)).toBe(true);
    expect(pulled.digest).toBe(pushRes.descriptor.digest);
  });

  it('uses a registry run image as the base', async () => {
    const s = await setup(false);
    const regImage = await client().image(s.runRef);
    await writeFile(join(s.root, 'analyzed.toml'), `[run-image]\nreference = "${s.runRef.replace(':latest', '')}@${regImage.digest}"\nimage = "${s.runRef}"\nextend = true\n`);
    const res = await exportImage(s.opts());
    await validateLayout(join(s.root, 'out'));
    const meta = JSON.parse(res.image.config.config!.Labels!['io.buildpacks.lifecycle.metadata']!) as { runImage: { reference: string; topLayer: string } };
    expect(meta.runImage.reference).toBe(`${s.runRef.replace(':latest', '')}@${regImage.digest}`);
    expect(meta.runImage.topLayer).toBe(s.run.config.rootfs.diff_ids.at(-1));
  });
});
