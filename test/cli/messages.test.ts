// What a user sees when something they did is wrong: the built CLI (dist/, as installed) is run for
// each kind of mistake — bad flag, missing file, malformed Dockerfile, failing RUN, unknown user,
// unreadable layout, registry authentication, no space left — and must end with one clear message
// (what, where, and what to do), the documented exit code, and no stack trace unless -log-level debug.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, staticKeychain } from '../../oci/index.js';
import { put } from '../extender/helpers/cnb-tree.js';
import { scenario } from '../extender/helpers/scenario.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { useRegistry } from '../helpers/registry.js';
import { tmpDir } from '../helpers/tmp.js';
import { clientFor } from '../oci/registry/support.js';

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');
const EXTENDER = resolve(import.meta.dirname, '../../dist/src/cli/extender-bin.js');

function run(bin: string, argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [bin, ...argv], {
    encoding: 'utf8',
    cwd: opts.cwd ?? process.cwd(),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}
const cli = (argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) => run(BIN, argv, opts);

/** No JavaScript stack frame anywhere in the output. */
function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(text).not.toContain('node:internal');
}

/** The output's last lines: `ERROR: …` and optionally `hint: …`, nothing after them. */
function lastMessage(text: string): { error: string; hint: string | undefined } {
  const lines = text.trimEnd().split('\n');
  const last = lines.at(-1)!;
  if (last.startsWith('hint: ')) return { error: lines.at(-2)!, hint: last.slice(6) };
  return { error: last, hint: undefined };
}

const DF = 'ARG base_image\nFROM ${base_image}\n';

describe.skipIf(!existsSync(BIN))('messages of the built CLI', () => {
  describe('usage', () => {
    it('an unknown flag: the flag, and where to look (exit 2)', () => {
      const r = cli(['apply', '-bogus']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe("cnb-extender apply: flag provided but not defined: -bogus\nRun 'cnb-extender apply -help' for the flags and examples.\n");
    });

    it('missing required flags are all named (exit 2)', () => {
      const r = cli(['apply', '-base', 'x']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^cnb-extender apply: -dockerfile, -output are required\n/);
    });

    it('a positional argument says every input is a flag (exit 2)', () => {
      const r = cli(['apply', 'Dockerfile']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('unexpected arguments: Dockerfile (every input is a flag, e.g. -dockerfile Dockerfile)');
    });

    it('an unknown command lists the commands (exit 2)', () => {
      const r = cli(['aply']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^cnb-extender: unknown command "aply"; the commands are apply, lint, extender, restore, export, demo\.\n/);
    });

    it('a bad -progress value (exit 2)', () => {
      const r = cli(['apply', '-base', 'b', '-dockerfile', BIN, '-output', 'o', '-progress', 'fancy']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('-progress must be auto, tty, plain, lifecycle or quiet, not "fancy"');
    });

    it('the lifecycle phases end a usage error with one ERROR line (exit 2)', () => {
      const r = run(EXTENDER, ['-nope'], { env: { CNB_PLATFORM_API: '0.13' } });
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n').at(-1)).toBe("ERROR: flag provided but not defined: -nope (run 'extender -help' for the flags)");
    });

    it('export without an image argument says what the argument is (exit 3)', () => {
      const r = cli(['export', '-layers', '/nonexistent'], { env: { CNB_PLATFORM_API: '0.13' } });
      expect(r.code).toBe(3);
      expect(r.stdout).toContain('ERROR: failed to parse arguments: at least one image argument is required');
    });
  });

  describe('help and version', () => {
    it('-help of every command has flags, examples and exit codes; --version prints the version', () => {
      for (const c of ['apply', 'extender', 'restore', 'export', 'demo']) {
        // No CNB_PLATFORM_API: help must work without it.
        const r = cli([c, '-help']);
        expect(r.code, `${c}: ${r.all}`).toBe(0);
        expect(r.all).toMatch(/^Usage:/m);
        expect(r.all).toMatch(/^ {2}-json string$/m);
        expect(r.all).toContain('Examples:');
        expect(r.all).toContain('Exit codes:');
      }
      expect(cli(['help', 'apply']).stdout).toContain('Usage: cnb-extender apply');
      for (const v of ['--version', '-version', 'version']) {
        const r = cli([v]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^cnb-extender \d+\.\d+\.\d+ \(node v\d+/);
      }
      const top = cli(['--help']);
      expect(top.code).toBe(0);
      for (const c of ['apply', 'lint', 'extender', 'restore', 'export', 'demo']) expect(top.stdout).toMatch(new RegExp(`^ {2}${c} `, 'm'));
    });
  });

  describe('inputs', () => {
    it('a Dockerfile that does not exist: the path and the directory it was looked for in (exit 2)', async () => {
      const dir = await tmpDir();
      const r = cli(['apply', '-base', 'b', '-dockerfile', 'missing.Dockerfile', '-output', 'o'], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`-dockerfile missing.Dockerfile: no such file (relative to ${dir})`);
    });

    it('a malformed Dockerfile: file:line, the problem and the fix (exit 3)', async () => {
      const dir = await tmpDir();
      await writeFile(join(dir, 'bad.Dockerfile'), `${DF}RUNN echo hi\n`);
      const r = cli(['apply', '-base', fixture('busybox'), '-dockerfile', 'bad.Dockerfile', '-output', 'o'], { cwd: dir });
      expect(r.code).toBe(3);
      expectNoStack(r.all);
      expect(lastMessage(r.stderr).error).toMatch(/^ERROR: bad\.Dockerfile:3: unknown instruction: RUNN \(did you mean RUN\?\)/);
      expect(existsSync(join(dir, 'o'))).toBe(false);
    });

    it('a directory that is not an OCI layout: the path and how to make one (exit 6)', async () => {
      const dir = await tmpDir();
      await writeFile(join(dir, 'run.Dockerfile'), `${DF}RUN true\n`);
      const r = cli(['apply', '-base', dir, '-dockerfile', join(dir, 'run.Dockerfile'), '-output', join(dir, 'o')]);
      expect(r.code).toBe(6);
      expectNoStack(r.all);
      const m = lastMessage(r.stderr);
      expect(m.error).toContain(`${dir}/oci-layout`);
      expect(m.hint).toContain('skopeo copy docker://busybox oci:DIR:latest');
    });

    it('a tag the layout does not have: the tag and how to list them (exit 6)', async () => {
      const dir = await tmpDir();
      await writeFile(join(dir, 'run.Dockerfile'), `${DF}RUN true\n`);
      const r = cli(['apply', '-base', `${fixture('busybox')}:nope`, '-dockerfile', join(dir, 'run.Dockerfile'), '-output', join(dir, 'o')]);
      expect(r.code).toBe(6);
      const m = lastMessage(r.stderr);
      expect(m.error).toContain('nope');
      expect(m.hint).toContain('index.json');
    });
  });

  describe.skipIf(!isRoot)('builds', () => {
    it('a failing RUN: its output with the step prefix, then file:line, the command, its exit code and what to do (exit 4)', async () => {
      const dir = await tmpDir();
      await writeFile(join(dir, 'fail.Dockerfile'), `${DF}USER root\nRUN echo about to fail && exit 3\n`);
      const r = cli(['apply', '-base', fixture('busybox'), '-dockerfile', 'fail.Dockerfile', '-output', 'o', '-json', 'report.json'], { cwd: dir });
      expect(r.code).toBe(4);
      expectNoStack(r.all);
      expect(r.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \[2\/2\] │ about to fail$/m);
      const m = lastMessage(r.stderr);
      expect(m.error).toBe('ERROR: fail.Dockerfile:4: RUN echo about to fail && exit 3: the command returned a non-zero code: 3');
      expect(m.hint).toMatch(/output is printed above; fix the command/);
      expect(existsSync(join(dir, 'o'))).toBe(false);
      // The report says the same, for machines.
      const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
      expect(report).toMatchObject({
        command: 'apply',
        status: 'failed',
        exitCode: 4,
        output: null,
        error: { exitCode: 4, name: 'BuildError', code: 'RUN_FAILED', line: 4, message: 'fail.Dockerfile:4: RUN echo about to fail && exit 3: the command returned a non-zero code: 3' },
      });
      expect((report.steps as unknown[]).length).toBe(1);

      // -log-level debug adds the stacks (and only then).
      const d = cli(['apply', '-base', fixture('busybox'), '-dockerfile', 'fail.Dockerfile', '-output', 'o', '-log-level', 'debug'], { cwd: dir });
      expect(d.code).toBe(4);
      expect(d.stderr).toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    });

    it('an unknown user: the name, the image\'s /etc/passwd (not a host path) and the fix (exit 5)', async () => {
      const dir = await tmpDir();
      await writeFile(join(dir, 'user.Dockerfile'), `${DF}USER nobody\nRUN echo hi\n`);
      const r = cli(['apply', '-base', fixture('busybox'), '-dockerfile', 'user.Dockerfile', '-output', 'o'], { cwd: dir });
      expect(r.code).toBe(5);
      expectNoStack(r.all);
      const m = lastMessage(r.stderr);
      expect(m.error).toBe('ERROR: user.Dockerfile:4: RUN echo hi: unable to find user nobody: no matching entry in /etc/passwd of the image');
      expect(m.hint).toContain('useradd');
    });

    it('a COPY source missing from the context: file:line and the context (exit 5)', async () => {
      const dir = await tmpDir();
      await writeFile(join(dir, 'copy.Dockerfile'), `${DF}COPY nothere /x\n`);
      const r = cli(['apply', '-base', fixture('busybox'), '-dockerfile', 'copy.Dockerfile', '-output', 'o'], { cwd: dir });
      expect(r.code).toBe(5);
      const m = lastMessage(r.stderr);
      expect(m.error).toMatch(/^ERROR: copy\.Dockerfile:3: .*nothere/);
      expect(m.hint).toContain('build context');
    });

    it('no space left on the output filesystem: the path and what to free (exit 1), no half-written output', async () => {
      const dir = await tmpDir();
      const small = join(dir, 'small');
      await mkdir(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
      try {
        await writeFile(join(dir, 'run.Dockerfile'), `${DF}LABEL a=b\n`);
        const r = cli(['apply', '-base', fixture('busybox'), '-dockerfile', join(dir, 'run.Dockerfile'), '-output', join(small, 'out')]);
        expect(r.code).toBe(1);
        expectNoStack(r.all);
        const m = lastMessage(r.stderr);
        expect(m.error).toMatch(/no space left on device/);
        expect(m.error).toContain(small);
        expect(m.hint).toMatch(/^free space on the filesystem/);
        expect(execFileSync('ls', ['-A', small], { encoding: 'utf8' })).toBe('');
      } finally {
        execFileSync('umount', [small]);
      }
    });

    it('the extender phase: a failing RUN names the extension\'s Dockerfile and line (exit 102)', async () => {
      const s = await scenario('0.13');
      await put(join(s.t.generated, 'curl', 'run.Dockerfile'), `${DF}USER root\nRUN echo from-ext && false\nARG user_id\nUSER \${user_id}\n`);
      await put(join(s.t.generated, 'tree', 'run.Dockerfile'), `${DF}LABEL io.buildpacks.rebasable=true\n`);
      const r = run(EXTENDER, ['-kind', 'run', '-uid', '1000', '-gid', '1000'], { env: s.env });
      expect(r.code).toBe(102);
      expectNoStack(r.all);
      expect(r.stdout).toMatch(/^from-ext$/m);
      const m = lastMessage(r.stdout);
      expect(m.error).toMatch(/^ERROR: failed to extend run image: .*curl\/run\.Dockerfile:4: RUN echo from-ext && false: the command returned a non-zero code: 1$/);
      expect(m.hint).toMatch(/fix the command/);
    });
  });

  describe('registry', () => {
    const USER = 'msg-user';
    const PASSWORD = 'msg-Secret-pw1';
    const server = useRegistry({ auth: { username: USER, password: PASSWORD } });
    beforeAll(async () => {
      const img = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
      const c = clientFor(server().host, { keychain: staticKeychain({ [server().host]: { kind: 'basic', username: USER, password: PASSWORD } }) });
      await c.write(`${server().host}/private/run:latest`, img);
      await c.close();
    });
    afterAll(() => {});

    it('restore without credentials: the image, the refusal and how to give credentials (exit 1)', async () => {
      const root = await tmpDir();
      const layers = join(root, 'layers');
      await mkdir(layers);
      const image = `${server().host}/private/run:latest`;
      await writeFile(join(layers, 'group.toml'), '[[group]]\nid = "bp"\nversion = "1"\napi = "0.10"\n');
      await writeFile(join(layers, 'analyzed.toml'), `[run-image]\nreference = "${image}"\nimage = "${image}"\nextend = true\n`);
      const r = cli(['restore', '-layers', layers, '-kaniko-dir', join(root, 'kaniko'), '-run', join(root, 'none.toml'), '-insecure-registry', server().host], {
        env: { CNB_PLATFORM_API: '0.14', HOME: '/nonexistent' },
      });
      expect(r.code).toBe(1);
      expectNoStack(r.all);
      expect(r.all).not.toContain(PASSWORD);
      const m = lastMessage(r.stdout);
      expect(m.error).toContain(`failed to pull run image ${image}`);
      expect(m.error).toMatch(/401|unauthori[sz]ed/i);
      expect(m.hint).toContain('CNB_REGISTRY_AUTH');
    });
  });
});
