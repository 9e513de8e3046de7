// restore() and `cnb-extender restore` without a registry: the Platform ≥ 0.14 run-image check
// (#1590) through the whole phase with a counting checker, the files it reads and writes, the
// command's flags, gates and exit codes. Registry cases are in restore-registry.test.ts.
import { readFile, readdir, stat } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Registry } from '../../oci/index.js';
import { parseApiVersion, readAnalyzed } from '../../src/cnb/index.js';
import { runRestore } from '../../src/cli/restore.js';
import { main } from '../../src/cli/main.js';
import { memoryLogger } from '../../src/log.js';
import { isRestoreError, restore, type RestoreOptions } from '../../src/restorer/index.js';
import {
  analyzedToml, captureIO, cnbTree, countingChecker, GROUP_WITHOUT_EXTENSIONS, runToml, type CnbTree,
} from './helpers.js';
import { rejection } from '../oci/registry/support.js';

const PRIMARY = 'registry.example.com/pack-test/run:latest';
const MIRROR = 'localhost:5000/pack-test/run:latest';
const RUN = runToml([{ image: PRIMARY, mirrors: [MIRROR] }]);

// Never contacted in this file (nothing is pulled); a real client, so a stray call fails loudly.
const registry = new Registry({ retry: { attempts: 1 } });
afterAll(() => registry.close());

function opts(t: CnbTree, api: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return {
    platformApi: parseApiVersion(api)!,
    analyzedPath: t.analyzed,
    groupPath: t.group,
    runPath: t.run,
    kanikoDir: t.kaniko,
    registry,
    log: memoryLogger(),
    ...extra,
  };
}

describe('restore(): run-image access check (Platform ≥ 0.14, lifecycle #1590)', () => {
  it('analyzed selected the mirror, the primary is inaccessible → the mirror is checked once, the primary never; success', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image: MIRROR, reference: MIRROR }), run: RUN });
    const check = countingChecker(new Set([MIRROR]));
    const res = await restore(opts(t, '0.14', { checkReadAccess: check }));
    expect(check.calls).toEqual([MIRROR]);
    const a = await readAnalyzed(t.analyzed);
    expect(a.runImage).toEqual({ reference: MIRROR, image: MIRROR });
    expect(res.analyzed?.runImage?.image).toBe(MIRROR);
    await expect(stat(t.kaniko)).rejects.toThrow(/ENOENT/);
  });

  it('the reverse: analyzed points at the inaccessible primary → fails with the exact message, analyzed.toml unchanged', async () => {
    const before = analyzedToml({ image: PRIMARY, reference: PRIMARY });
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: before, run: RUN });
    const check = countingChecker(new Set([MIRROR]));
    const e = await rejection(restore(opts(t, '0.15', { checkReadAccess: check })));
    expect(isRestoreError(e, 'RUN_IMAGE_NOT_ACCESSIBLE')).toBe(true);
    expect((e as Error).message).toBe(`selected run image '${PRIMARY}' is not accessible`);
    expect(check.calls).toEqual([PRIMARY]);
    expect(await readFile(t.analyzed, 'utf8')).toBe(before);
  });

  it('a run image run.toml does not list → no check at all', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image: 'switched.example.com/run:x', reference: 'r' }), run: RUN });
    const check = countingChecker(new Set());
    await restore(opts(t, '0.14', { checkReadAccess: check }));
    expect(check.calls).toEqual([]);
  });

  it('a missing run.toml lists nothing → no check (what pack does today: it passes no -run)', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image: PRIMARY, reference: PRIMARY }) });
    const check = countingChecker(new Set());
    const log = memoryLogger();
    await restore(opts(t, '0.14', { checkReadAccess: check, log }));
    expect(check.calls).toEqual([]);
    expect(log.lines).toContain(`info: No run metadata found at path "${t.run}"`);
  });

  it('below Platform 0.14 run.toml is not consulted', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image: PRIMARY, reference: PRIMARY }), run: RUN });
    const check = countingChecker(new Set());
    await restore(opts(t, '0.13', { checkReadAccess: check }));
    expect(check.calls).toEqual([]);
  });
});

describe('restore(): files', () => {
  it('a missing analyzed.toml reads as empty (warning) and is written', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS });
    const log = memoryLogger();
    await restore(opts(t, '0.12', { log }));
    expect(log.lines).toContain(`warn: No analyzed metadata found at path "${t.analyzed}"`);
    expect(await readFile(t.analyzed, 'utf8')).toBe('');
  });

  it('an analyzed.toml that does not parse is left alone with a warning (the lifecycle goes on)', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: '[run-image\n' });
    const log = memoryLogger();
    const res = await restore(opts(t, '0.12', { log }));
    expect(res.analyzed).toBeNull();
    expect(log.lines.some((l) => l.startsWith('warn: Not using analyzed data, usable file not found: '))).toBe(true);
    expect(await readFile(t.analyzed, 'utf8')).toBe('[run-image\n');
  });

  it('keys it does not model survive the rewrite', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: `${analyzedToml({ image: 'a/b', reference: 'a/b' })}future-key = "kept"\n[image]\nreference = "prev@sha256:${'1'.repeat(64)}"\n` });
    await restore(opts(t, '0.12'));
    const text = await readFile(t.analyzed, 'utf8');
    expect(text).toContain('future-key = "kept"');
    expect(text).toContain(`reference = "prev@sha256:${'1'.repeat(64)}"`);
  });

  it('a buildpack with an unsupported Buildpack API fails (exit 12 in the CLI)', async () => {
    const t = await cnbTree({ group: '[[group]]\nid = "bp"\nversion = "1"\napi = "0.1"\n' });
    const e = await rejection(restore(opts(t, '0.12')));
    expect(isRestoreError(e, 'BUILDPACK_API')).toBe(true);
  });
});

describe('cnb-extender restore: flags, gates, exit codes', () => {
  async function cli(argv: string[], env: Record<string, string>, checkReadAccess = countingChecker(new Set())) {
    const c = captureIO();
    const code = await runRestore(argv, env, c.io, { registry, checkReadAccess });
    return { code, stdout: c.out(), stderr: c.err(), checks: checkReadAccess.calls };
  }

  it('CNB_PLATFORM_API unset, unparsable or unsupported → exit 11', async () => {
    let r = await cli([], {});
    expect([r.code, r.stdout]).toEqual([11, "ERROR: failed to get platform API version; please set 'CNB_PLATFORM_API' to specify the desired platform API version\n"]);
    r = await cli([], { CNB_PLATFORM_API: 'x' });
    expect([r.code, r.stdout]).toEqual([11, "ERROR: failed to parse platform API 'x'\n"]);
    r = await cli([], { CNB_PLATFORM_API: '0.6' });
    expect([r.code, r.stdout]).toEqual([11, "ERROR: failed to set platform API: platform API version '0.6' is incompatible with the lifecycle\n"]);
  });

  it('R1: a positional argument → exit 3, "failed to parse arguments: received unexpected Args"', async () => {
    const r = await cli(['some-arg'], { CNB_PLATFORM_API: '0.12' });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('ERROR: failed to parse arguments: received unexpected Args\n');
  });

  it('unknown flags and flags gated by the Platform API → usage, exit 2', async () => {
    const cases: [string, string[]][] = [
      ['0.14', ['-daemon']],
      ['0.14', ['-cache-dir', '/cache']],
      ['0.13', ['-run', '/cnb/run.toml']],
      ['0.12', ['-insecure-registry', 'r.io']],
      ['0.9', ['-build-image', 'r.io/b']],
    ];
    for (const [api, argv] of cases) {
      const r = await cli(argv, { CNB_PLATFORM_API: api });
      expect(r.code, `${api} ${argv.join(' ')}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^flag provided but not defined: ${argv[0]}\nUsage of restorer:`));
    }
    const r = await cli(['-uid', 'cnb'], { CNB_PLATFORM_API: '0.14' });
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, 'invalid value "cnb" for flag -uid: parse error']);
  });

  it('-h prints usage with the lifecycle defaults and exits 0', async () => {
    const r = await cli(['-h'], { CNB_PLATFORM_API: '0.14' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('  -run string\n    \tpath to run.toml (default "/cnb/run.toml")');
    expect(r.stderr).toContain('  -analyzed string\n    \tpath to analyzed.toml (default "<layers>/analyzed.toml")');
    expect(r.stderr).toContain('  -kaniko-dir string');
    expect(r.stderr).toContain('  -insecure-registry string');
  });

  it('flags beat CNB_* variables; <layers> defaults follow -layers; -run and the #1590 check end to end', async () => {
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image: PRIMARY, reference: PRIMARY }), run: RUN });
    const env = { CNB_PLATFORM_API: '0.14', CNB_LAYERS_DIR: '/nonexistent', CNB_RUN_PATH: '/nonexistent/run.toml', CNB_KANIKO_DIR: t.kaniko };
    // env only: no group.toml at /nonexistent → exit 1
    let r = await cli([], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ERROR: failed to read /nonexistent/group.toml');
    // -layers: analyzed and group found; -run: PRIMARY is listed and not readable → exit 1, the lifecycle's message
    r = await cli(['-layers', t.layers, '-run', t.run], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`Warning: No cached data will be used, no cache specified.\nERROR: selected run image '${PRIMARY}' is not accessible\n`);
    expect(r.checks).toEqual([PRIMARY]);
    // the same image readable now: checked once, success
    r = await cli(['-layers', t.layers, '-run', t.run, '-analyzed', t.analyzed], env, countingChecker(new Set([PRIMARY])));
    expect(r.code).toBe(0);
    expect(r.checks).toEqual([PRIMARY]);
    await expect(readdir(t.kaniko)).rejects.toThrow(/ENOENT/);
  });

  it('an unsupported Buildpack API in group.toml → exit 12', async () => {
    const t = await cnbTree({ group: '[[group]]\nid = "bp"\nversion = "1"\napi = "0.2"\n' });
    const r = await cli(['-layers', t.layers], { CNB_PLATFORM_API: '0.12' });
    expect(r.code).toBe(12);
    expect(r.stdout).toContain("ERROR: failed to set API for buildpack 'bp@1': buildpack API version '0.2' is incompatible with the lifecycle\n");
  });

  it('is registered as a cnb-extender command', async () => {
    const c = captureIO();
    expect(await main(['restore', 'x'], { CNB_PLATFORM_API: '0.12' }, c.io)).toBe(3);
    expect(c.out()).toBe('ERROR: failed to parse arguments: received unexpected Args\n');
  });
});
