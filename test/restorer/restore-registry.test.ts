// The restorer against a real registry (Debian's docker-registry on 127.0.0.1, plain HTTP):
// contract.md §7.3 R3–R5 and R7 in our words, §9 items 24–25, and the #1590 case end to end.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, validateLayout, withConfigFile, type Image } from '../../oci/index.js';
import { parseApiVersion, readAnalyzed } from '../../src/cnb/index.js';
import { runRestore } from '../../src/cli/restore.js';
import { openBaseImage } from '../../src/extender/index.js';
import { memoryLogger } from '../../src/log.js';
import { restore, type RestoreOptions } from '../../src/restorer/index.js';
import { fixture } from '../helpers/fixtures.js';
import { useRegistry } from '../helpers/registry.js';
import { clientFor } from '../oci/registry/support.js';
import { analyzedToml, captureIO, cnbTree, countingChecker, GROUP_WITHOUT_EXTENSIONS, runToml, type CnbTree } from './helpers.js';
import type { Registry } from '../../oci/index.js';

const server = useRegistry();
let reg: Registry;
let busybox: Image;
/** busybox with the target labels a CNB run image carries. */
let runBase: Image;
let host: string;

beforeAll(async () => {
  host = server().host;
  reg = clientFor(host);
  busybox = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
  runBase = withConfigFile(busybox, (c) => ({
    ...c,
    config: {
      ...c.config,
      Labels: { ...(c.config?.Labels ?? {}), 'io.buildpacks.base.distro.name': 'busybox', 'io.buildpacks.base.distro.version': '1.36', 'io.buildpacks.base.id': 'io.example.busybox' },
    },
  }));
  await reg.write(`${host}/fixtures/build:latest`, busybox);
  await reg.write(`${host}/fixtures/run:latest`, runBase);
});
afterAll(async () => {
  await reg?.close();
});

function opts(t: CnbTree, api: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return { platformApi: parseApiVersion(api)!, analyzedPath: t.analyzed, groupPath: t.group, runPath: t.run, kanikoDir: t.kaniko, registry: reg, log: memoryLogger(), ...extra };
}

async function baseEntries(t: CnbTree): Promise<string[]> {
  return readdir(join(t.kaniko, 'cache', 'base'));
}

/** The entry is a full, schema-valid layout of `img`, byte-identical, with no ref.name (as the lifecycle writes it). */
async function expectFullEntry(dir: string, img: Image): Promise<void> {
  await validateLayout(dir);
  expect((await readFile(join(dir, 'oci-layout'), 'utf8'))).toContain('"imageLayoutVersion":"1.0.0"');
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: unknown }[] };
  expect(index.manifests).toEqual([{ mediaType: img.manifestMediaType, digest: img.digest, size: img.rawManifest.length }]);
  const blobs = (await readdir(join(dir, 'blobs', 'sha256'))).sort();
  expect(blobs).toEqual([img.digest, img.manifest.config.digest, ...img.layers.map((l) => l.descriptor.digest)].map((d) => d.slice(7)).sort());
  expect((await readFile(join(dir, 'blobs', 'sha256', img.digest.slice(7)))).equals(img.rawManifest)).toBe(true);
  expect((await readFile(join(dir, 'blobs', 'sha256', img.manifest.config.digest.slice(7)))).equals(img.rawConfig)).toBe(true);
}

describe('R3: -build-image', () => {
  it('pulls the build image into one base-cache entry sha256:<hex> (full layout) and records <img>@sha256:', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS });
    const log = memoryLogger();
    const res = await restore(opts(t, '0.12', { buildImage: `${host}/fixtures/build:latest`, log }));
    const a = await readAnalyzed(t.analyzed);
    expect(a.buildImage?.reference).toBe(`${host}/fixtures/build@${busybox.digest}`);
    expect(await baseEntries(t)).toEqual([busybox.digest]);
    await expectFullEntry(join(t.kaniko, 'cache', 'base', busybox.digest), busybox);
    expect(res.buildImage?.reused).toBe(false);
    // progress went through the logger
    expect(log.lines).toContain(`info: pulling ${host}/fixtures/build@${busybox.digest}: ${busybox.layers.length} layers, ${(busybox.layers[0]!.descriptor.size / 1048576).toFixed(1)} MiB`);
    expect(log.lines.some((l) => l.startsWith(`info: pulled layer 1/${busybox.layers.length} `))).toBe(true);
    // the extender reads exactly what the restorer recorded
    const base = await openBaseImage(t.kaniko, a.buildImage!.reference, 'build');
    expect(base.image.digest).toBe(busybox.digest);
  });

  it('a second run reuses the complete entry; an incomplete (sparse) entry is filled in place; still one entry', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS });
    const first = await restore(opts(t, '0.10', { buildImage: `${host}/fixtures/build:latest` }));
    const log = memoryLogger();
    const again = await restore(opts(t, '0.10', { buildImage: `${host}/fixtures/build:latest`, log }));
    expect([first.buildImage?.reused, again.buildImage?.reused]).toEqual([false, true]);
    expect(log.lines.some((l) => l.startsWith('info: pulling'))).toBe(false);
    // make it sparse, as lifecycles before 0.21.1 wrote it
    const dir = join(t.kaniko, 'cache', 'base', busybox.digest);
    const { rm } = await import('node:fs/promises');
    for (const l of busybox.layers) await rm(join(dir, 'blobs', 'sha256', l.descriptor.digest.slice(7)));
    const filled = await restore(opts(t, '0.10', { buildImage: `${host}/fixtures/build:latest` }));
    expect(filled.buildImage?.reused).toBe(false);
    expect(await baseEntries(t)).toEqual([busybox.digest]);
    await expectFullEntry(dir, busybox);
  });
});

describe('R4: run-image.extend = true', () => {
  it('pulls the run image: reference <run>@sha256:, image unchanged, target from the config, one entry', async () => {
    const image = `${host}/fixtures/run:latest`;
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image, reference: image, extend: true }) });
    const res = await restore(opts(t, '0.12'));
    const a = await readAnalyzed(t.analyzed);
    expect(a.runImage).toEqual({
      reference: `${host}/fixtures/run@${runBase.digest}`,
      image,
      extend: true,
      target: { os: 'linux', arch: 'amd64', id: 'io.example.busybox', distro: { name: 'busybox', version: '1.36' } },
    });
    expect(await baseEntries(t)).toEqual([runBase.digest]);
    await expectFullEntry(res.runImage!.dir, runBase);
    expect((await openBaseImage(t.kaniko, a.runImage!.reference, 'run')).image.digest).toBe(runBase.digest);
  });

  it('build image and run image together: one entry each; the same image twice: one entry', async () => {
    const image = `${host}/fixtures/run:latest`;
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image, reference: image, extend: true }) });
    await restore(opts(t, '0.12', { buildImage: `${host}/fixtures/build:latest` }));
    expect((await baseEntries(t)).sort()).toEqual([busybox.digest, runBase.digest].sort());
    const same = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image, reference: image, extend: true }) });
    const res = await restore(opts(same, '0.12', { buildImage: image }));
    expect(await baseEntries(same)).toEqual([runBase.digest]);
    expect(res.runImage?.reused).toBe(true);
  });
});

describe('R5: run-image.extend = false', () => {
  it('with extensions and no target: reference digest + target written, <kaniko-dir> untouched', async () => {
    const image = `${host}/fixtures/run:latest`;
    const t = await cnbTree({ analyzed: analyzedToml({ image, reference: image }) });
    await restore(opts(t, '0.12'));
    const a = await readAnalyzed(t.analyzed);
    expect(a.runImage?.reference).toBe(`${host}/fixtures/run@${runBase.digest}`);
    expect(a.runImage?.image).toBe(image);
    expect(a.runImage?.target).toMatchObject({ os: 'linux', arch: 'amd64', distro: { name: 'busybox', version: '1.36' } });
    await expect(readdir(t.kaniko)).rejects.toThrow(/ENOENT/);
  });

  it('below 0.12: digest only, no target (an old one is cleared)', async () => {
    const image = `${host}/fixtures/run:latest`;
    const t = await cnbTree({ analyzed: analyzedToml({ image, reference: image }) });
    await restore(opts(t, '0.11'));
    const a = await readAnalyzed(t.analyzed);
    expect(a.runImage).toEqual({ reference: `${host}/fixtures/run@${runBase.digest}`, image });
    await expect(readdir(t.kaniko)).rejects.toThrow(/ENOENT/);
  });

  it('a target already there, or no extensions in the group: nothing is fetched', async () => {
    const image = `${host}/fixtures/does-not-exist:latest`; // any fetch would fail
    for (const [group, analyzed] of [
      [undefined, analyzedToml({ image, reference: 'kept', targetOs: 'linux' })],
      [GROUP_WITHOUT_EXTENSIONS, analyzedToml({ image, reference: 'kept' })],
    ] as const) {
      const t = await cnbTree({ ...(group ? { group } : {}), analyzed });
      await restore(opts(t, '0.12'));
      expect((await readAnalyzed(t.analyzed)).runImage?.reference).toBe('kept');
    }
  });
});

describe('#1590 against the registry (Platform 0.14, run.toml with an inaccessible primary)', () => {
  const primary = () => `${host}/missing/run:latest`; // 404: the repository does not exist
  const mirror = () => `${host}/fixtures/run:latest`;

  it('analyzed = the mirror: the mirror is checked once, the primary never; the mirror is pulled', async () => {
    const t = await cnbTree({
      group: GROUP_WITHOUT_EXTENSIONS,
      analyzed: analyzedToml({ image: mirror(), reference: mirror(), extend: true }),
      run: runToml([{ image: primary(), mirrors: [mirror()] }]),
    });
    const check = countingChecker((image) => reg.checkReadAccess(image));
    await restore(opts(t, '0.14', { checkReadAccess: check }));
    expect(check.calls).toEqual([mirror()]);
    expect((await readAnalyzed(t.analyzed)).runImage?.reference).toBe(`${host}/fixtures/run@${runBase.digest}`);
    expect(await baseEntries(t)).toEqual([runBase.digest]);
  });

  it('analyzed = the primary (404): fails with the lifecycle message (exit 1), nothing pulled', async () => {
    const t = await cnbTree({
      group: GROUP_WITHOUT_EXTENSIONS,
      analyzed: analyzedToml({ image: primary(), reference: primary(), extend: true }),
      run: runToml([{ image: primary(), mirrors: [mirror()] }]),
    });
    const c = captureIO();
    const code = await runRestore(['-layers', t.layers, '-run', t.run, '-kaniko-dir', t.kaniko, '-insecure-registry', host], { CNB_PLATFORM_API: '0.14' }, c.io);
    expect(code).toBe(1);
    expect(c.out().trimEnd().split('\n').at(-1)).toBe(`ERROR: selected run image '${primary()}' is not accessible`);
    await expect(readdir(t.kaniko)).rejects.toThrow(/ENOENT/);
  });

  it('not listed in run.toml: no check; the image is pulled directly', async () => {
    const t = await cnbTree({
      group: GROUP_WITHOUT_EXTENSIONS,
      analyzed: analyzedToml({ image: mirror(), reference: mirror(), extend: true }),
      run: runToml([{ image: primary(), mirrors: [] }]),
    });
    const check = countingChecker((image) => reg.checkReadAccess(image));
    await restore(opts(t, '0.14', { checkReadAccess: check }));
    expect(check.calls).toEqual([]);
    expect(await baseEntries(t)).toEqual([runBase.digest]);
  });
});

describe('R7: insecure registries (the CLI builds its own client)', () => {
  it('a plain-HTTP registry is used only when named: -insecure-registry or CNB_INSECURE_REGISTRIES', async () => {
    const image = `${host}/fixtures/run:latest`;
    const env = { CNB_PLATFORM_API: '0.13' };
    for (const [extraArgs, extraEnv, want] of [
      [[], {}, 1],
      [['-insecure-registry', 'other.example.com', '-insecure-registry', host], {}, 0],
      [[], { CNB_INSECURE_REGISTRIES: `other.example.com,${host}` }, 0],
    ] as const) {
      const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image, reference: image, extend: true }) });
      const c = captureIO();
      const code = await runRestore(['-layers', t.layers, '-kaniko-dir', t.kaniko, '-build-image', `${host}/fixtures/build:latest`, ...extraArgs], { ...env, ...extraEnv }, c.io);
      expect(code, c.out()).toBe(want);
      if (want === 0) {
        expect(await baseEntries(t)).toHaveLength(2);
        expect((await readAnalyzed(t.analyzed)).buildImage?.reference).toBe(`${host}/fixtures/build@${busybox.digest}`);
      } else {
        expect(c.out()).toMatch(new RegExp(`ERROR: failed to pull builder image ${host}/fixtures/build:latest: `));
        await expect(readdir(t.kaniko)).rejects.toThrow(/ENOENT/); // nothing written
      }
    }
  });
});
