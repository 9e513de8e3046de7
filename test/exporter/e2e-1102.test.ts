// The #1102 scenario end to end: run-image extension together with export to an OCI layout.
// A run image in a real registry; `restore` pulls it for extension; the real extender (kind=run,
// RUN in the chroot executor) applies a run.Dockerfile that installs a file and sets a label, env
// and user; `exportImage` writes the app image as a full and as a sparse OCI layout, and pushes it.
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, digestHex, validateLayout } from '../../oci/index.js';
import { main as extenderMain } from '../../src/cli/extender.js';
import { defaultExtenderRuntime } from '../../src/cli/extender-runtime.js';
import { parseApiVersion } from '../../src/cnb/index.js';
import { exportImage, LIFECYCLE_METADATA_LABEL } from '../../src/exporter/index.js';
import { memoryLogger } from '../../src/log.js';
import { restore } from '../../src/restorer/index.js';
import { fixture, hasCommand, isRoot } from '../helpers/fixtures.js';
import { useRegistry } from '../helpers/registry.js';
import { tmpDir } from '../helpers/tmp.js';
import { registryClients } from './helpers.js';

const RUN_DOCKERFILE = `ARG base_image
FROM \${base_image}
USER root
RUN mkdir -p /opt/ext && echo installed-by-extension > /opt/ext/file
LABEL com.example.extended=yes
ENV EXT_VAR=from-extension
ARG user_id
USER \${user_id}
`;

const reg = useRegistry();
let busybox: string;
beforeAll(() => {
  busybox = fixture('busybox');
});
const client = registryClients(() => reg().host);

describe.skipIf(!isRoot)('run-image extension with export to an OCI layout (#1102)', () => {
  it('restore → extend (kind=run) → export full, sparse and to the registry', async () => {
    expect(hasCommand('umoci') && hasCommand('skopeo')).toBe(true);
    const root = await tmpDir('cnbx-1102-');
    const layers = join(root, 'layers');
    const app = join(root, 'workspace');
    const kaniko = join(root, 'kaniko');
    const platform = join(root, 'platform');
    for (const d of [layers, app, kaniko, platform, join(layers, 'generated', 'hello')]) await mkdir(d, { recursive: true });
    await writeFile(join(app, 'index.html'), '<h1>app</h1>\n');

    // the run image in the registry
    const run = await (await OciLayout.open(busybox)).image({ tag: 'latest' });
    const runRef = `${reg().host}/run-1102:latest`;
    await client().write(runRef, run);
    await writeFile(join(layers, 'group.toml'), '[[group]]\nid = "bp"\nversion = "1"\napi = "0.10"\n[[group-extensions]]\nid = "hello"\nversion = "0.0.1"\napi = "0.9"\n');
    await writeFile(join(layers, 'analyzed.toml'), `[run-image]\nreference = "${runRef}"\nimage = "${runRef}"\nextend = true\n`);
    await writeFile(join(root, 'run.toml'), `[[images]]\nimage = "${runRef}"\n`);
    await writeFile(join(layers, 'generated', 'hello', 'run.Dockerfile'), RUN_DOCKERFILE);

    // restore: the run image into <kaniko>/cache/base, a digest reference in analyzed.toml
    const restored = await restore({
      platformApi: parseApiVersion('0.13')!, analyzedPath: join(layers, 'analyzed.toml'), groupPath: join(layers, 'group.toml'),
      runPath: join(root, 'run.toml'), kanikoDir: kaniko, registry: client(), log: memoryLogger(),
    });
    const runDigestRef = restored.analyzed!.runImage!.reference;
    expect(runDigestRef).toBe(`${reg().host}/run-1102@${run.digest}`);

    // the real extender, kind=run
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
    const env = { CNB_PLATFORM_API: '0.13', CNB_LAYERS_DIR: layers, CNB_APP_DIR: app, CNB_PLATFORM_DIR: platform, CNB_KANIKO_DIR: kaniko };
    const code = await extenderMain(['-kind', 'run', '-log-level', 'info', '-uid', '1000', '-gid', '1000'], env, io,
      defaultExtenderRuntime({ cwd: '/', out: (l) => out.push(`${l}\n`) }));
    expect(out.join(''), out.join('')).not.toMatch(/ERROR/);
    expect(code).toBe(0);
    expect(await readdir(join(layers, 'extended', 'run'))).toHaveLength(1);

    // export: full layout
    const common = {
      platformApi: '0.13', analyzedPath: join(layers, 'analyzed.toml'), runPath: join(root, 'run.toml'), layersDir: layers, appDir: '/workspace',
      appLayers: [{ createdBy: 'Application Layer', dir: app, target: '/workspace', uid: 1000, gid: 1000 }], registry: client(), env: {},
    };
    const fullDir = join(root, 'oci-full');
    const full = await exportImage({ ...common, output: { kind: 'layout', dir: fullDir, tag: 'latest' } });
    await validateLayout(fullDir);
    const bundle = join(root, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${fullDir}:latest`, bundle], { stdio: 'pipe' });
    expect(await readFile(join(bundle, 'rootfs', 'opt', 'ext', 'file'), 'utf8')).toBe('installed-by-extension\n');
    expect(await readFile(join(bundle, 'rootfs', 'workspace', 'index.html'), 'utf8')).toBe('<h1>app</h1>\n');
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${fullDir}:latest`], { encoding: 'utf8' })) as { config: { Labels: Record<string, string>; User: string; Env: string[] } };
    expect(inspect.config.Labels['com.example.extended']).toBe('yes');
    expect(inspect.config.Labels['io.buildpacks.rebasable']).toBe('false');
    expect(inspect.config.User).toBe('1000');
    expect(inspect.config.Env).toContain('EXT_VAR=from-extension');
    expect(inspect.config.Env).toContain('CNB_PLATFORM_API=0.13');
    const meta = JSON.parse(inspect.config.Labels[LIFECYCLE_METADATA_LABEL]!) as { runImage: Record<string, unknown> };
    expect(meta.runImage).toEqual({ topLayer: run.config.rootfs.diff_ids.at(-1), reference: runDigestRef, image: runRef });
    const diffIDs = full.image.config.rootfs.diff_ids;
    expect(diffIDs[0]).toBe(run.config.rootfs.diff_ids[0]);
    expect(diffIDs.length).toBeGreaterThanOrEqual(3);

    // sparse layout: same image, no base-layer blob
    const sparseDir = join(root, 'oci-sparse');
    const sparse = await exportImage({ ...common, output: { kind: 'layout', dir: sparseDir, sparse: true, tag: 'latest' } });
    expect(sparse.descriptor.digest).toBe(full.descriptor.digest);
    await validateLayout(sparseDir, { allowMissingBlobs: true });
    expect(await readdir(join(sparseDir, 'blobs', 'sha256'))).not.toContain(digestHex(run.manifest.layers[0]!.digest));

    // push: the same config and diffIDs as the layout
    const appRef = `${reg().host}/app-1102:latest`;
    await exportImage({ ...common, output: { kind: 'registry', reference: appRef }, workDir: join(root, 'push-work') });
    const pushed = await client().image(appRef);
    expect(pushed.config.rootfs.diff_ids).toEqual(diffIDs);
    expect(pushed.rawConfig.equals(full.image.rawConfig)).toBe(true);
  });
});
