import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CnbError,
  analyzedToToml,
  parseApiVersion,
  apiSupported,
  SUPPORTED_BUILDPACK_APIS,
  escapeID,
  readAnalyzed,
  readExtendConfig,
  readGroup,
  readRunToml,
  writeAnalyzed,
  parseToml,
} from '../../src/cnb/index.js';
import { memoryLogger } from '../../src/log.js';
import { tmpDir } from '../helpers/tmp.js';

async function file(dir: string, name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

async function expectCnbError(p: Promise<unknown>, code: string, pattern: RegExp): Promise<CnbError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CnbError);
  expect((e as CnbError).code).toBe(code);
  expect((e as CnbError).message).toMatch(pattern);
  return e as CnbError;
}

describe('analyzed.toml', () => {
  it('a missing file reads as empty and warns like the lifecycle', async () => {
    const dir = await tmpDir();
    const log = memoryLogger();
    const a = await readAnalyzed(join(dir, 'analyzed.toml'), log);
    expect(a.runImage).toBeUndefined();
    expect(a.buildImage).toBeUndefined();
    expect(log.lines).toEqual([`warn: No analyzed metadata found at path "${join(dir, 'analyzed.toml')}"`]);
  });

  it('reads every field the extension phases use', async () => {
    const dir = await tmpDir();
    const p = await file(
      dir,
      'analyzed.toml',
      `[image]
reference = "prev@sha256:${'a'.repeat(64)}"
[build-image]
reference = "builder@sha256:${'b'.repeat(64)}"
[run-image]
reference = "run@sha256:${'c'.repeat(64)}"
image = "registry.example/run:tag"
extend = true
[run-image.target]
id = "ubuntu"
os = "linux"
arch = "amd64"
arch-variant = "v8"
[run-image.target.distro]
name = "ubuntu"
version = "22.04"
`,
    );
    const a = await readAnalyzed(p);
    expect(a.previousImage).toEqual({ reference: `prev@sha256:${'a'.repeat(64)}` });
    expect(a.buildImage).toEqual({ reference: `builder@sha256:${'b'.repeat(64)}` });
    expect(a.runImage).toEqual({
      reference: `run@sha256:${'c'.repeat(64)}`,
      image: 'registry.example/run:tag',
      extend: true,
      target: { id: 'ubuntu', os: 'linux', arch: 'amd64', archVariant: 'v8', distro: { name: 'ubuntu', version: '22.04' } },
    });
  });

  it('names the file and the key on a wrong type', async () => {
    const dir = await tmpDir();
    const p = await file(dir, 'analyzed.toml', '[run-image]\nreference = "x"\nextend = "yes"\n');
    const e = await expectCnbError(readAnalyzed(p), 'TYPE', /analyzed\.toml: key "run-image\.extend": expected a boolean, got string/);
    expect(e.path).toBe(p);
    expect(e.key).toBe('run-image.extend');
    await writeFile(p, 'run-image = 3\n');
    await expectCnbError(readAnalyzed(p), 'TYPE', /key "run-image": expected a table, got integer/);
    await writeFile(p, '[run-image.target]\nos = 1\n');
    await expectCnbError(readAnalyzed(p), 'TYPE', /key "run-image\.target\.os": expected a string, got integer/);
  });

  it('names the file and line on bad TOML', async () => {
    const dir = await tmpDir();
    const p = await file(dir, 'analyzed.toml', '[run-image]\nreference = \n');
    const e = await expectCnbError(readAnalyzed(p), 'PARSE', /analyzed\.toml:2:\d+: /);
    expect(e.line).toBe(2);
  });

  it('a directory in place of the file is a read error', async () => {
    const dir = await tmpDir();
    await mkdir(join(dir, 'analyzed.toml'));
    await expectCnbError(readAnalyzed(join(dir, 'analyzed.toml')), 'READ', /analyzed\.toml/);
  });

  it('round-trips unknown keys and omits empty optional fields on write', async () => {
    const dir = await tmpDir();
    const p = await file(
      dir,
      'analyzed.toml',
      `future-key = "kept"
[metadata]
[metadata.config]
sha = "sha256:abc"
[run-image]
reference = "old"
image = "img"
extend = true
unknown-in-run = 7
[run-image.target]
os = "linux"
arch = "amd64"
custom = "kept too"
[build-image]
reference = "b"
`,
    );
    const a = await readAnalyzed(p);
    a.runImage = { ...a.runImage!, reference: 'new@sha256:' + 'd'.repeat(64), extend: false, image: '' };
    delete a.buildImage;
    await writeAnalyzed(p, a);
    const back = parseToml(await readFile(p, 'utf8'), p);
    expect(back['future-key']).toBe('kept');
    expect(back.metadata).toEqual({ config: { sha: 'sha256:abc' } });
    expect(back['build-image']).toBeUndefined();
    expect(back['run-image']).toEqual({
      reference: 'new@sha256:' + 'd'.repeat(64),
      'unknown-in-run': 7,
      target: { os: 'linux', arch: 'amd64', custom: 'kept too' },
    });
    // atomic write: nothing but the file is left in the directory
    expect(await readdir(dir)).toEqual(['analyzed.toml']);
  });

  it('clears the target when it is removed (a switched run image)', () => {
    const t = analyzedToToml({ raw: { 'run-image': { reference: 'r', target: { os: 'linux', arch: 'arm64' } } }, runImage: { reference: 'r2', image: 'i2', extend: true } });
    expect(t['run-image']).toEqual({ reference: 'r2', image: 'i2', extend: true });
  });

  it('writes a file the reader reads back identically', async () => {
    const dir = await tmpDir();
    const p = join(dir, 'analyzed.toml');
    const value = {
      raw: {},
      buildImage: { reference: 'b@sha256:' + '1'.repeat(64) },
      runImage: { reference: 'r@sha256:' + '2'.repeat(64), image: 'r:latest', extend: true, target: { os: 'linux', arch: 'amd64', distro: { name: 'debian', version: '12' } } },
    };
    await writeAnalyzed(p, value);
    const back = await readAnalyzed(p);
    expect({ buildImage: back.buildImage, runImage: back.runImage }).toEqual({ buildImage: value.buildImage, runImage: value.runImage });
  });
});

describe('group.toml', () => {
  it('reads buildpacks and extensions in order', async () => {
    const dir = await tmpDir();
    const p = await file(
      dir,
      'group.toml',
      `[[group]]
id = "bp"
version = "1"
api = "0.10"
[[group-extensions]]
id = "curl"
version = "0.0.1"
api = "0.9"
[[group-extensions]]
id = "org/tree"
version = "0.0.2"
api = "0.9"
homepage = "https://example.com"
`,
    );
    const g = await readGroup(p);
    expect(g.group).toEqual([{ id: 'bp', version: '1', api: '0.10' }]);
    expect(g.groupExtensions.map((e) => e.id)).toEqual(['curl', 'org/tree']);
    expect(g.groupExtensions[1]!.homepage).toBe('https://example.com');
  });

  it('a missing file is an error; an element without id is an error naming the key', async () => {
    const dir = await tmpDir();
    await expectCnbError(readGroup(join(dir, 'group.toml')), 'READ', /group\.toml: no such file/);
    const p = await file(dir, 'group.toml', '[[group-extensions]]\nid = "a"\n[[group-extensions]]\nversion = "1"\n');
    await expectCnbError(readGroup(p), 'MISSING', /key "group-extensions\[1\]\.id" is required/);
    await writeFile(p, 'group-extensions = "x"\n');
    await expectCnbError(readGroup(p), 'TYPE', /key "group-extensions": expected an array of tables, got string/);
  });
});

describe('run.toml', () => {
  it('reads images with mirrors; missing file → no images', async () => {
    const dir = await tmpDir();
    expect(await readRunToml(join(dir, 'run.toml'))).toEqual({ images: [] });
    const p = await file(dir, 'run.toml', '[[images]]\nimage = "a/run:1"\nmirrors = ["m1/run:1", "m2/run:1"]\n[[images]]\nimage = "b/run"\n');
    expect(await readRunToml(p)).toEqual({
      images: [
        { image: 'a/run:1', mirrors: ['m1/run:1', 'm2/run:1'] },
        { image: 'b/run', mirrors: [] },
      ],
    });
    await writeFile(p, '[[images]]\nimage = "a"\nmirrors = [1, 2]\n');
    await expectCnbError(readRunToml(p), 'TYPE', /key "images\[0\]\.mirrors\[0\]": expected a string, got integer/);
    await writeFile(p, '[[images]]\nmirrors = []\n');
    await expectCnbError(readRunToml(p), 'MISSING', /key "images\[0\]\.image" is required/);
  });
});

describe('extend-config.toml', () => {
  it('reads build and run args in file order; missing file → none', async () => {
    const dir = await tmpDir();
    expect(await readExtendConfig(join(dir, 'x.toml'))).toEqual({ build: { args: [] }, run: { args: [] } });
    const p = await file(
      dir,
      'extend-config.toml',
      '[[build.args]]\nname = "b2"\nvalue = "2"\n[[build.args]]\nname = "b1"\nvalue = "1"\n[[run.args]]\nname = "r"\n',
    );
    expect(await readExtendConfig(p)).toEqual({
      build: { args: [{ name: 'b2', value: '2' }, { name: 'b1', value: '1' }] },
      run: { args: [{ name: 'r', value: '' }] },
    });
    await writeFile(p, '[[run.args]]\nvalue = "x"\n');
    await expectCnbError(readExtendConfig(p), 'MISSING', /key "run\.args\[0\]\.name" is required/);
  });
});

describe('API versions and IDs', () => {
  it('parses like the lifecycle and checks support', () => {
    expect(parseApiVersion('0.12')).toEqual({ major: 0, minor: 12 });
    expect(parseApiVersion('v1')).toEqual({ major: 1, minor: 0 });
    expect(parseApiVersion('0.x')).toBeUndefined();
    expect(parseApiVersion('')).toBeUndefined();
    expect(apiSupported(SUPPORTED_BUILDPACK_APIS, parseApiVersion('0.9')!)).toBe(true);
    expect(apiSupported(SUPPORTED_BUILDPACK_APIS, parseApiVersion('0.6')!)).toBe(false);
    expect(apiSupported(SUPPORTED_BUILDPACK_APIS, parseApiVersion('0.13')!)).toBe(false);
    expect(apiSupported(['1.2'], parseApiVersion('1.1')!)).toBe(true);
    expect(apiSupported(['1.2'], parseApiVersion('1.3')!)).toBe(false);
  });

  it('escapes IDs', () => {
    expect(escapeID('org/tree/x')).toBe('org_tree_x');
  });
});
