// The `extender` command line: contract.md §1.2–§1.4 and §9 items 1–4, 7.
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/extender.js';
import { describeFailure, joinChain } from '../../src/cli/errors.js';
import { ExtenderError } from '../../src/extender/errors.js';
import { FakeEngine } from '../extender/helpers/fake-engine.js';
import { captureIO, testRuntime } from '../extender/helpers/runtime.js';
import { scenario } from '../extender/helpers/scenario.js';
import { makeTree } from '../extender/helpers/cnb-tree.js';

async function cli(argv: string[], env: Record<string, string>, engine = new FakeEngine()) {
  const c = captureIO();
  const rt = testRuntime(engine);
  let engines = 0;
  const code = await main(argv, env, c.io, { ...rt, createEngine: async (o) => (engines++, rt.createEngine(o)) });
  return { code, stdout: c.out(), stderr: c.err(), engines };
}

describe('Platform API (§1.3, §9.1)', () => {
  it('unset, unparsable or unsupported → exit 11 before any work', async () => {
    const t = await makeTree();
    const env = { CNB_KANIKO_DIR: t.kaniko, CNB_LAYERS_DIR: t.layers };
    let r = await cli([], env);
    expect(r.code).toBe(11);
    expect(r.stdout).toBe("ERROR: failed to get platform API version; please set 'CNB_PLATFORM_API' to specify the desired platform API version\n");
    r = await cli([], { ...env, CNB_PLATFORM_API: 'x.y' });
    expect(r.code).toBe(11);
    expect(r.stdout).toBe("ERROR: failed to parse platform API 'x.y'\n");
    for (const v of ['0.9', '0.16', '1.0']) {
      r = await cli(['-kind', 'run'], { ...env, CNB_PLATFORM_API: v });
      expect(r.code).toBe(11);
      expect(r.stdout).toMatch(new RegExp(`^ERROR: failed to set platform API: platform API version '${v.replace('.', '\\.')}' is incompatible with the extender`));
      expect(r.engines).toBe(0);
    }
    expect(await readdir(t.kaniko)).toEqual([]);
  });
});

describe('flags (§1.2, §9.2)', () => {
  const env = { CNB_PLATFORM_API: '0.13', CNB_KANIKO_DIR: '/nonexistent-kaniko' };

  it('-h / -help print usage to stderr and exit 0; -version prints the version', async () => {
    const r = await cli(['-h'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Usage of extender:\n/);
    expect(r.stderr).toContain('  -kind string\n    \tkind of image to extend (default "build")');
    expect(r.stderr).toContain('  -kaniko-cache-ttl duration\n    \tkaniko cache time-to-live (default 336h0m0s)');
    expect((await cli(['-help'], env)).code).toBe(0);
    const v = await cli(['-version'], env);
    expect([v.code, v.stdout]).toEqual([0, '9.9.9-test\n']);
    const v2 = await cli(['-version'], {}); // like `lifecycle -version`: no Platform API needed
    expect([v2.code, v2.stdout]).toEqual([0, '9.9.9-test\n']);
  });

  it('an unknown flag or a bad value → usage on stderr, exit 2', async () => {
    let r = await cli(['-nope'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flag provided but not defined: -nope\nUsage of extender:/);
    r = await cli(['-uid', 'cnb'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^invalid value "cnb" for flag -uid: parse error\n/);
    r = await cli(['-kaniko-cache-ttl=14d'], env);
    expect(r.code).toBe(2);
    r = await cli(['-no-color=maybe'], env);
    expect(r.code).toBe(2);
  });

  it('-kind and -extended exist from Platform 0.12 only', async () => {
    for (const api of ['0.10', '0.11']) {
      for (const f of [['-kind', 'run'], ['-extended', '/x']]) {
        const r = await cli(f, { ...env, CNB_PLATFORM_API: api });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`flag provided but not defined: ${f[0]}`);
      }
    }
    // from 0.12 they parse (and the run fails later, on the missing kaniko dir: exit 1)
    const r = await cli(['-kind', 'run', '-extended', '/x'], { ...env, CNB_PLATFORM_API: '0.12' });
    expect(r.code).toBe(1);
  });

  it('positional arguments → exit 3 (after a warning for flag-like ones)', async () => {
    const r = await cli(['-log-level', 'info', 'extra', '-kind', 'run'], env);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('Warning: Warning: unconsumed flag-like positional arg: \n\t-kind');
    expect(r.stdout).toContain('ERROR: failed to parse arguments: received unexpected arguments');
  });

  it('an invalid kind → exit 3 with the reason (the lifecycle prints an empty `failed to `)', async () => {
    const r = await cli(['-kind', 'both'], env);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('ERROR: failed to parse arguments: invalid kind "both": expected build or run');
    const r2 = await cli([], { ...env, CNB_EXTEND_KIND: 'other' });
    expect(r2.code).toBe(3);
  });

  it('an invalid log level → exit 1', async () => {
    const r = await cli(['-log-level', 'loud'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('ERROR: failed to parse log level: invalid level\n');
  });
});

describe('inputs resolve flag > env > default (§9.3, §9.4)', () => {
  it('a flag beats its env var, which beats the default; <layers> defaults follow -layers', async () => {
    const s = await scenario('0.13');
    // Move analyzed.toml: the env var points at the wrong one, the flag at the right one.
    const analyzed = join(s.t.root, 'elsewhere.toml');
    await writeFile(analyzed, await import('node:fs/promises').then((f) => f.readFile(join(s.t.layers, 'analyzed.toml'))));
    await rm(join(s.t.layers, 'analyzed.toml'));
    const env = { ...s.env, CNB_ANALYZED_PATH: join(s.t.root, 'missing.toml'), CNB_LAYERS_DIR: '/nonexistent', CNB_KANIKO_DIR: '/nonexistent-kaniko' };
    const c = captureIO();
    const code = await main(
      ['-kind', 'run', '-layers', s.t.layers, '-analyzed', analyzed, '-kaniko-dir', s.t.kaniko, '-log-level', 'debug'],
      env,
      c.io,
      testRuntime(s.engine),
    );
    expect(c.out()).not.toMatch(/ERROR/);
    expect(code).toBe(0);
    // group.toml and generated/ were found under -layers; the output went to <layers>/extended
    expect(s.engine.contexts.map((x) => x.extensionId)).toEqual(['curl', 'tree']);
    expect(await readdir(join(s.t.layers, 'extended', 'run'))).toHaveLength(1);
  });

  it('kind defaults to build; CNB_EXTEND_KIND=run selects run; -kind beats the env', async () => {
    const s = await scenario('0.13');
    expect((await s.run(['-skip-builder'])).code).toBe(0);
    expect(s.engine.contexts.every((c) => c.kind === 'build')).toBe(true);
    const e2 = new FakeEngine();
    expect((await s.run([], { CNB_EXTEND_KIND: 'run' }, e2)).code).toBe(0);
    expect(e2.contexts.every((c) => c.kind === 'run')).toBe(true);
    const e3 = new FakeEngine();
    expect((await s.run(['-kind', 'build', '-skip-builder'], { CNB_EXTEND_KIND: 'run' }, e3)).code).toBe(0);
    expect(e3.contexts.every((c) => c.kind === 'build')).toBe(true);
  });

  it('below 0.12 CNB_EXTEND_KIND is ignored with a warning', async () => {
    const s = await scenario('0.11');
    const r = await s.run(['-skip-builder'], { CNB_EXTEND_KIND: 'run' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Warning: CNB_EXTEND_KIND is ignored below Platform API 0.12');
    expect(s.engine.contexts.every((c) => c.kind === 'build')).toBe(true);
  });
});

describe('initialisation errors (§1.4, §9.7)', () => {
  it('extensions in group order; an unsupported extension API → exit 12', async () => {
    const s = await scenario('0.13');
    await writeFile(join(s.t.layers, 'group.toml'), '[[group-extensions]]\nid = "tree"\nversion = "1"\napi = "0.9"\n[[group-extensions]]\nid = "curl"\nversion = "2"\napi = "0.9"\n');
    expect((await s.run(['-kind', 'run'])).code).toBe(0);
    expect(s.engine.contexts.map((c) => c.extensionId)).toEqual(['tree', 'curl']);
    await writeFile(join(s.t.layers, 'group.toml'), '[[group-extensions]]\nid = "curl"\nversion = "2"\napi = "0.2"\n');
    const r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(12);
    expect(r.stdout).toContain("ERROR: failed to set API for extension 'curl@2': buildpack API version '0.2' is incompatible with the lifecycle");
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
  });

  it('a missing or broken group.toml, a broken analyzed.toml → exit 1; a missing <kaniko-dir> → exit 1', async () => {
    const s = await scenario('0.13');
    await writeFile(join(s.t.layers, 'analyzed.toml'), '[run-image\n');
    let r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR: failed to initialize extender: reading analyzed metadata: parse .*analyzed\.toml:1/);
    await rm(join(s.t.layers, 'analyzed.toml'));
    await rm(join(s.t.layers, 'group.toml'));
    r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR: failed to initialize extender: reading group: read .*group\.toml: no such file/);
    r = await s.run(['-kind', 'run'], { CNB_KANIKO_DIR: join(s.t.root, 'no-kaniko') });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR: failed to create work directory in .*no-kaniko: ENOENT/);
  });

  it('nothing is created under a missing <kaniko-dir>, and the engine is not started before the inputs are read', async () => {
    const s = await scenario('0.13');
    const missing = join(s.t.root, 'no-kaniko');
    const r = await cli(['-kind', 'run'], { ...s.env, CNB_KANIKO_DIR: missing });
    expect(r.code).toBe(1);
    expect(r.engines).toBe(0);
    expect(await readdir(missing).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ENOENT');
    await rm(join(s.t.layers, 'group.toml'));
    const r2 = await cli(['-kind', 'run'], s.env);
    expect([r2.code, r2.engines]).toEqual([1, 0]);
  });

  it('an extension without a Dockerfile for the kind is skipped', async () => {
    const s = await scenario('0.13');
    await rm(join(s.t.generated, 'tree', 'run.Dockerfile'));
    expect((await s.run(['-kind', 'run'])).code).toBe(0);
    expect(s.engine.contexts.map((c) => c.extensionId)).toEqual(['curl']);
  });

  it('every Dockerfile is validated before the first one runs; warnings are printed', async () => {
    const s = await scenario('0.13');
    await writeFile(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nBOGUS x\n');
    const r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(102);
    expect(r.stdout).toMatch(/ERROR: failed to extend run image: extending run image: loading Dockerfile: .*tree\/run\.Dockerfile:3: unknown instruction: BOGUS/);
    expect(s.engine.contexts).toEqual([]); // curl, first in order, did not run
    await writeFile(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nCMD x\n');
    const r2 = await s.run(['-kind', 'run']);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toContain('Warning: run.Dockerfile command CMD on line 3 is not recommended');
  });
});

describe('error printing (src/cli/errors.ts)', () => {
  it('joins the cause chain once, and maps codes to exit codes', () => {
    const e = new ExtenderError('DOCKERFILE', 'applying Dockerfile', { kind: 'run' }, { cause: new Error('RUN failed', { cause: new Error('exit 3') }) });
    expect(describeFailure(e)).toEqual({ exitCode: 102, message: 'failed to extend run image: applying Dockerfile: RUN failed: exit 3' });
    expect(joinChain('a: b', new Error('b'))).toBe('a: b');
    expect(describeFailure(new ExtenderError('CHOWN', 'chown /layers')).exitCode).toBe(1);
    expect(describeFailure(new ExtenderError('EXTENSION_API', 'x')).exitCode).toBe(12);
    expect(describeFailure(new Error('boom'))).toEqual({ exitCode: 1, message: 'boom' });
  });

  it('stacks only at -log-level debug', async () => {
    const s = await scenario('0.13');
    await rm(join(s.t.layers, 'group.toml'));
    const c = captureIO();
    await main(['-kind', 'run', '-log-level', 'info'], s.env, c.io, testRuntime(s.engine));
    expect(c.out()).not.toMatch(/\n\s+at /);
    const d = await s.run(['-kind', 'run']); // scenario runs at debug
    expect(d.stdout).toMatch(/ExtenderError: reading group\n\s+at /);
    expect(d.stdout).toMatch(/Caused by: CnbError: read .*group\.toml: no such file/);
  });
});
