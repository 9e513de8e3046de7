// `cnb-extender lint`: a table of valid, warned and invalid Dockerfiles (the lifecycle's rules and
// message texts), files and directories, the kind taken from the name or forced, and usage errors.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { tmpDir } from '../helpers/tmp.js';

const FIXTURES = resolve(import.meta.dirname, '../../fixtures/dockerfiles');

async function lint(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['lint', ...argv], {}, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

/** Writes `text` as `<tmp>/<name>` and returns the path. */
async function file(name: string, text: string): Promise<string> {
  const dir = await tmpDir('cnbx-lint-');
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

interface Row {
  name: string;
  file: string;
  text: string;
  code: 0 | 1;
  /** The report's lines, `<path>` standing for the file's path. */
  lines: string[];
}

const BUILD_OK = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN apt-get update\nARG user_id\nUSER ${user_id}\n';

const TABLE: Row[] = [
  { name: 'valid build.Dockerfile', file: 'build.Dockerfile', text: BUILD_OK, code: 0, lines: ['<path>: ok (build)', '0 errors, 0 warnings in 1 file'] },
  { name: 'valid run.Dockerfile', file: 'run.Dockerfile', text: 'FROM ${base_image}\nRUN echo hi\n', code: 0, lines: ['<path>: ok (run)', '0 errors, 0 warnings in 1 file'] },
  {
    name: 'run-image switch without instructions', file: 'run.Dockerfile', text: 'FROM registry.example.com/run:2\n', code: 0,
    lines: ['<path>: ok (run; switches the run image to registry.example.com/run:2)', '0 errors, 0 warnings in 1 file'],
  },
  {
    name: 'run-image switch that extends', file: 'run.Dockerfile', text: 'FROM registry.example.com/run:2\nRUN echo x\n', code: 0,
    lines: ['<path>: ok (run; switches the run image to registry.example.com/run:2 and extends it)', '0 errors, 0 warnings in 1 file'],
  },
  {
    name: 'instructions the spec does not recommend', file: 'run.Dockerfile',
    text: 'FROM ${base_image}\nEXPOSE 8080\nCMD ["app"]\nHEALTHCHECK NONE\n', code: 0,
    lines: [
      '<path>:2: warning: run.Dockerfile command EXPOSE on line 2 is not recommended',
      '<path>:3: warning: run.Dockerfile command CMD on line 3 is not recommended',
      '<path>:4: warning: run.Dockerfile command HEALTHCHECK on line 4 is not recommended',
      '0 errors, 3 warnings in 1 file',
    ],
  },
  {
    name: 'FROM $base_image without braces (a switch, as the lifecycle reads it)', file: 'run.Dockerfile', text: 'FROM $base_image\nRUN true\n', code: 0,
    lines: [
      '<path>:1: warning: run.Dockerfile FROM $base_image on line 1 switches the run image to an image named "$base_image": the lifecycle compares the text literally (write exactly FROM ${base_image}, with the braces)',
      '<path>: switches the run image to $base_image and extends it',
      '0 errors, 1 warning in 1 file',
    ],
  },
  {
    name: 'a here-doc form kaniko does not run', file: 'build.Dockerfile', text: 'ARG base_image\nFROM ${base_image}\nRUN <<-EOF\n\techo hi\n\tEOF\n', code: 0,
    lines: [
      "<path>:3: warning: RUN <<-EOF on line 3: the lifecycle's kaniko runs nothing for this here-doc form; cnb-extender runs the body as Docker does (use a plain <<EOF delimiter to get the same result with both)",
      '0 errors, 1 warning in 1 file',
    ],
  },
  {
    name: 'build.Dockerfile without ARG base_image', file: 'build.Dockerfile', text: 'FROM ${base_image}\nRUN true\n', code: 1,
    lines: ['<path>:1: error: build.Dockerfile did not start with required ARG command (start the file with exactly one "ARG base_image" before FROM)', '1 error, 0 warnings in 1 file'],
  },
  {
    name: 'build.Dockerfile with two meta ARGs', file: 'build.Dockerfile', text: 'ARG base_image\nARG other\nFROM ${base_image}\n', code: 1,
    lines: ['<path>:2: error: build.Dockerfile did not start with required ARG command (start the file with exactly one "ARG base_image" before FROM)', '1 error, 0 warnings in 1 file'],
  },
  {
    name: 'build.Dockerfile FROM another image', file: 'build.Dockerfile', text: 'ARG base_image\nFROM ubuntu:24.04\n', code: 1,
    lines: ['<path>:2: error: build.Dockerfile did not contain required FROM ${base_image} command (write FROM ${base_image})', '1 error, 0 warnings in 1 file'],
  },
  {
    name: 'multistage', file: 'run.Dockerfile', text: 'FROM ${base_image}\nRUN true\nFROM ${base_image}\n', code: 1,
    lines: ['<path>:3: error: run.Dockerfile is not permitted to use multistage build (an extension Dockerfile has exactly one FROM)', '1 error, 0 warnings in 1 file'],
  },
  {
    name: 'no stage', file: 'run.Dockerfile', text: 'ARG base_image\n', code: 1,
    lines: ['<path>:1: error: run.Dockerfile should have at least one stage (add FROM ${base_image})', '1 error, 0 warnings in 1 file'],
  },
  {
    name: 'parse error', file: 'run.Dockerfile', text: 'FROM ${base_image}\nRUN <<EOF\necho never closed\n', code: 1,
    lines: ['<path>:2: error: unterminated heredoc: no line "EOF" closes it (end the here-document with a line holding only EOF)', '1 error, 0 warnings in 1 file'],
  },
];

describe('cnb-extender lint', () => {
  it.each(TABLE)('$name', async (row) => {
    const p = await file(row.file, row.text);
    const r = await lint(p);
    expect(r.stderr).toBe('');
    expect(r.stdout.trimEnd().split('\n')).toEqual(row.lines.map((l) => l.replaceAll('<path>', p)));
    expect(r.code).toBe(row.code);
  });

  it('lints the Dockerfiles of a directory, at any depth, with the kind from each name', async () => {
    const r = await lint(join(FIXTURES, 'old-layout'));
    expect(r.stdout).toBe(
      `${FIXTURES}/old-layout/build/my_ext/Dockerfile: ok (build)\n` +
        `${FIXTURES}/old-layout/run/my_ext/Dockerfile: ok (run; switches the run image to other/run:image)\n` +
        '0 errors, 0 warnings in 2 files\n',
    );
    expect(r.code).toBe(0);
  });

  it('reports every file of several arguments; one error makes the exit status 1', async () => {
    const r = await lint(join(FIXTURES, 'tools'), join(FIXTURES, 'multistage', 'build.Dockerfile'), join(FIXTURES, 'warned'));
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${FIXTURES}/tools/build.Dockerfile: ok (build)`);
    expect(lines[1]).toBe(`${FIXTURES}/tools/run.Dockerfile: ok (run)`);
    expect(lines[2]).toBe(`${FIXTURES}/multistage/build.Dockerfile:5: error: build.Dockerfile is not permitted to use multistage build (an extension Dockerfile has exactly one FROM)`);
    expect(lines.filter((l) => l.includes('warned/run.Dockerfile') && l.includes(': warning: run.Dockerfile command '))).toHaveLength(8);
    expect(lines.at(-1)).toBe('1 error, 8 warnings in 4 files');
    expect(r.code).toBe(1);
  });

  it('-kind forces the kind, before or after the paths', async () => {
    const p = await file('Dockerfile', 'FROM ${base_image}\nRUN true\n');
    expect((await lint(p)).stdout).toMatch(/^.*:1: error: build.Dockerfile did not start with required ARG command/); // default: build
    for (const argv of [['-kind', 'run', p], [p, '-kind', 'run'], ['--kind=run', p]]) {
      const r = await lint(...argv);
      expect(r.stdout).toBe(`${p}: ok (run)\n0 errors, 0 warnings in 1 file\n`);
      expect(r.code).toBe(0);
    }
  });

  it('bad usage and unreadable input exit 2 with a message', async () => {
    const empty = await tmpDir('cnbx-lint-empty-');
    writeFileSync(join(empty, 'README.md'), 'not a Dockerfile');
    const cases: Array<[string[], RegExp]> = [
      [[], /give at least one Dockerfile or directory/],
      [['-kind', 'deploy', empty], /-kind must be build or run, not "deploy"/],
      [['-verbose', empty], /flag provided but not defined: -verbose/],
      [[join(empty, 'missing.Dockerfile')], /missing\.Dockerfile: no such file or directory/],
      [[empty], /no Dockerfile found \(looked for Dockerfile and \*\.Dockerfile\)/],
    ];
    for (const [argv, message] of cases) {
      const r = await lint(...argv);
      expect(r.stderr, argv.join(' ')).toMatch(message);
      expect(r.code, argv.join(' ')).toBe(2);
    }
    const help = await lint('-help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: cnb-extender lint \[-kind build\|run\] <file\|dir>/);
  });

  it('is listed by `cnb-extender help`', async () => {
    let out = '';
    await main(['help'], {}, { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => {} } });
    expect(out).toMatch(/^ {2}lint {7}check extension Dockerfiles/m);
  });
});
