import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatLintReport,
  guessKind,
  lintDockerfile,
  looksLikeDockerfile,
  lintFiles,
  lintText,
  parseDockerfile,
  type DockerfileKind,
  type LintResult,
} from '../../src/dockerfile/index.js';

const df = (...lines: string[]) => `${lines.join('\n')}\n`;
const PREAMBLE = ['', 'ARG base_image=0', 'FROM ${base_image}'];

interface Expect {
  errors?: string[];
  warnings?: string[];
  isSwitch?: boolean;
  withBase?: string;
  extend?: boolean;
}

function check(r: LintResult, e: Expect): void {
  expect(r.errors.map((d) => d.message)).toEqual(e.errors ?? []);
  expect(r.warnings.map((d) => d.message)).toEqual(e.warnings ?? []);
  if (e.isSwitch !== undefined) expect(r.isSwitch).toBe(e.isSwitch);
  if (e.withBase !== undefined) expect(r.withBase).toBe(e.withBase);
  if (e.extend !== undefined) expect(r.extend).toBe(e.extend);
}

// The lifecycle's own cases (buildpack/dockerfile_test.go), restated: valid for both kinds.
const VALID = [
  df(...PREAMBLE, '', 'RUN echo "hello" > /world.txt'),
  df(...PREAMBLE, '', 'ADD some-source.txt some-dest.txt', '', 'ARG some_arg', 'RUN echo ${some_arg}', '',
    'COPY some-source.txt some-dest.txt', '', 'ENV SOME_VAR=some-val', '', 'LABEL some.label="some-label-content"', '',
    'USER some-user', '', 'WORKDIR some-workdir', '', 'SHELL ["/bin/sh"]'),
  df(...PREAMBLE, '', 'ARG build_id=0', 'RUN echo ${build_id}', '', 'RUN echo "this statement is never cached"'),
];

// Each instruction the spec does not recommend, on line 4 after the preamble.
const NOT_RECOMMENDED: Array<[string, string]> = [
  ['CMD ["some-cmd"]', 'CMD'],
  ['MAINTAINER "some-maintainer"', 'MAINTAINER'],
  ['EXPOSE 80/tcp', 'EXPOSE'],
  ['ENTRYPOINT ["some-executable"]', 'ENTRYPOINT'],
  ['VOLUME ["/some-dir"]', 'VOLUME'],
  ['ONBUILD RUN echo "hello" > /world.txt', 'ONBUILD'],
  ['STOPSIGNAL SIGKILL', 'STOPSIGNAL'],
  ['HEALTHCHECK NONE', 'HEALTHCHECK'],
];

describe('lint: the lifecycle detector rules', () => {
  for (const kind of ['build', 'run'] as const) {
    it.each(VALID.map((t, i) => [i, t] as const))(`${kind}: valid case %i passes without warnings and extends`, (_i, text) => {
      check(lintText(text, kind), { extend: true, isSwitch: false });
    });

    it.each(NOT_RECOMMENDED)(`${kind}: %s warns with the lifecycle's message`, (instr, name) => {
      const r = lintText(df(...PREAMBLE, instr), kind);
      check(r, { warnings: [`${kind}.Dockerfile command ${name} on line 4 is not recommended`] });
      expect(r.warnings[0]).toMatchObject({ line: 4, code: 'NOT_RECOMMENDED' });
    });

    it(`${kind}: an empty file is a parse error`, () => {
      check(lintText('', kind), { errors: ['file with no instructions'] });
    });

    it(`${kind}: two stages are an error, reported at the second FROM`, () => {
      const r = lintText(df(...PREAMBLE, 'RUN echo "hello" > /world.txt', '', 'FROM some-base-image', 'COPY --chown=0:0 a b'), kind);
      check(r, { errors: [`${kind}.Dockerfile is not permitted to use multistage build`] });
      expect(r.errors[0]!.line).toBe(6);
    });
  }

  it('build: needs exactly one meta ARG whose first name is base_image', () => {
    const missing = 'build.Dockerfile did not start with required ARG command';
    check(lintText(df('', 'FROM some-base-image', '', 'RUN echo "hello" > /world.txt'), 'build'), { errors: [missing] });
    check(lintText(df('ARG other', 'FROM ${base_image}'), 'build'), { errors: [missing] });
    check(lintText(df('ARG base_image', 'ARG other', 'FROM ${base_image}'), 'build'), { errors: [missing] });
    check(lintText(df('ARG base_image other=1', 'FROM ${base_image}'), 'build'), { extend: false });
  });

  it('build: FROM must be literally ${base_image} (the $base_image QUIRK)', () => {
    const wrong = 'build.Dockerfile did not contain required FROM ${base_image} command';
    for (const from of ['$base_image', '${base_image}:latest', 'debian', '${base_image:-debian}']) {
      const r = lintText(df('ARG base_image', `FROM ${from}`, 'RUN true'), 'build');
      check(r, { errors: [wrong] });
      expect(r.errors[0]).toMatchObject({ line: 2, code: 'MISSING_FROM' });
    }
    check(lintText(df('ARG base_image', 'FROM ${base_image} AS ext', 'RUN true'), 'build'), {});
  });

  it('build: a preamble without FROM has no stage', () => {
    check(lintText(df('ARG base_image'), 'build'), { errors: ['build.Dockerfile should have at least one stage'] });
  });

  it('build: warnings come before the ARG error, as the lifecycle logs them', () => {
    check(lintText(df('FROM x', 'EXPOSE 80'), 'build'), {
      errors: ['build.Dockerfile did not start with required ARG command'],
      warnings: ['build.Dockerfile command EXPOSE on line 2 is not recommended'],
    });
  });

  it('run: another FROM switches the run image; instructions make it extend', () => {
    check(lintText(df('FROM some-base-image'), 'run'), { isSwitch: true, withBase: 'some-base-image', extend: false });
    check(lintText(df('ARG base_image', 'FROM registry/run:2', 'RUN true'), 'run'), { isSwitch: true, withBase: 'registry/run:2', extend: true });
    check(lintText(df('FROM ${base_image}'), 'run'), { isSwitch: false, extend: false });
  });

  it('run: FROM $base_image is a switch to an image of that name, with a warning of ours', () => {
    const r = lintText(df('ARG base_image', 'FROM $base_image', 'RUN true'), 'run');
    expect(r).toMatchObject({ isSwitch: true, withBase: '$base_image', extend: true, errors: [] });
    expect(r.warnings).toEqual([expect.objectContaining({ code: 'LITERAL_BASE_IMAGE', line: 2 })]);
  });

  it('run: no ARG is required', () => {
    check(lintText(df('FROM ${base_image}', 'RUN true'), 'run'), { extend: true });
  });

  it('parse errors are the single error, with their line and hint', () => {
    const r = lintText(df('ARG base_image', 'FROM ${base_image}', 'COPY --from=0 /a /b'), 'build', 'x/build.Dockerfile');
    expect(r.errors).toEqual([expect.objectContaining({ code: 'UNSUPPORTED', line: 3, file: 'x/build.Dockerfile' })]);
    expect(r.errors[0]!.hint).toBeTruthy();
  });

  it('warns where kaniko runs nothing but Docker runs the here-doc', () => {
    for (const [delim, end] of [['<<-EOF', '\tEOF'], ["<<'EOF'", 'EOF']]) {
      const r = lintText(df(...PREAMBLE, `RUN ${delim}`, '\techo hi', end!), 'run');
      expect(r.warnings.map((w) => w.code)).toEqual(['KANIKO_HEREDOC']);
    }
    expect(lintText(df(...PREAMBLE, 'RUN <<EOF', 'echo hi', 'EOF'), 'run').warnings).toEqual([]);
  });

  it('lintDockerfile works on an already parsed file', () => {
    const p = parseDockerfile(df('ARG base_image', 'FROM ${base_image}', 'CMD x'), 'b.Dockerfile');
    const r = lintDockerfile(p, 'build');
    expect(r.parsed).toBe(p);
    expect(r.warnings[0]).toMatchObject({ file: 'b.Dockerfile', line: 3 });
  });
});

describe('lint: kind from the file name', () => {
  it.each([
    ['ext/build.Dockerfile', 'build'],
    ['/layers/generated/my_ext/run.Dockerfile', 'run'],
    ['/layers/generated/build/my_ext/Dockerfile', 'build'],
    ['generated\\run\\my_ext\\Dockerfile', 'run'],
    ['Dockerfile', undefined],
    ['run.Dockerfile.ignore', undefined],
  ])('%s → %s', (path, kind) => {
    expect(guessKind(path)).toBe(kind);
  });

  it('picks Dockerfiles out of a directory listing', () => {
    const names = ['build.Dockerfile', 'run.Dockerfile', 'a/Dockerfile', 'run.Dockerfile.ignore', 'extend-config.toml', 'Dockerfile.bak'];
    expect(names.filter(looksLikeDockerfile)).toEqual(['build.Dockerfile', 'run.Dockerfile', 'a/Dockerfile']);
  });
});

describe('lint: fixtures/dockerfiles', () => {
  const root = join(import.meta.dirname, '../../fixtures/dockerfiles');
  // differential/ holds the build engine's differential-test cases (test/build/differential.test.ts), not lint cases.
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      if (p === join(root, 'differential')) return [];
      return statSync(p).isDirectory() ? walk(p) : n.endsWith('Dockerfile') ? [p] : [];
    });
  const inputs = walk(root)
    .sort()
    .map((p) => ({ path: relative(root, p), text: readFileSync(p, 'utf8') }));
  const report = lintFiles(inputs);
  const byPath = new Map(report.results.map((r) => [r.file!, r]));

  const expected: Record<string, Expect & { kind: DockerfileKind }> = {
    'tools/build.Dockerfile': { kind: 'build', extend: true },
    'tools/run.Dockerfile': { kind: 'run', extend: true, isSwitch: false },
    'switch/run.Dockerfile': { kind: 'run', isSwitch: true, withBase: 'registry.example.com/runtimes/java:21', extend: false },
    'switch-extend/run.Dockerfile': { kind: 'run', isSwitch: true, withBase: 'registry.example.com/runtimes/java:21', extend: true },
    'literal-base/run.Dockerfile': {
      kind: 'run',
      isSwitch: true,
      withBase: '$base_image',
      warnings: ['run.Dockerfile FROM $base_image on line 2 switches the run image to an image named "$base_image": the lifecycle compares the text literally'],
    },
    'heredocs/build.Dockerfile': {
      kind: 'build',
      warnings: ["RUN <<-EOT on line 13: the lifecycle's kaniko runs nothing for this here-doc form; cnb-extender runs the body as Docker does"],
    },
    'backtick/run.Dockerfile': { kind: 'run', extend: true },
    'warned/run.Dockerfile': {
      kind: 'run',
      warnings: ['EXPOSE', 'CMD', 'ENTRYPOINT', 'VOLUME', 'STOPSIGNAL', 'HEALTHCHECK', 'ONBUILD', 'MAINTAINER'].map(
        (c, i) => `run.Dockerfile command ${c} on line ${i + 3} is not recommended`,
      ),
    },
    'no-arg/build.Dockerfile': { kind: 'build', errors: ['build.Dockerfile did not start with required ARG command'] },
    'two-args/build.Dockerfile': { kind: 'build', errors: ['build.Dockerfile did not start with required ARG command'] },
    'wrong-from/build.Dockerfile': { kind: 'build', errors: ['build.Dockerfile did not contain required FROM ${base_image} command'] },
    'multistage/build.Dockerfile': { kind: 'build', errors: ['build.Dockerfile is not permitted to use multistage build'] },
    'no-stage/build.Dockerfile': { kind: 'build', errors: ['build.Dockerfile should have at least one stage'] },
    'parse-error/run.Dockerfile': { kind: 'run', errors: ['unterminated heredoc: no line "EOF" closes it'] },
    'copy-from/build.Dockerfile': { kind: 'build', errors: ['COPY --from=builder is not supported in an image extension Dockerfile'] },
    'old-layout/build/my_ext/Dockerfile': { kind: 'build', extend: true },
    'old-layout/run/my_ext/Dockerfile': { kind: 'run', isSwitch: true, withBase: 'other/run:image' },
  };

  it('covers every fixture', () => {
    expect([...byPath.keys()].sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', (path, e) => {
    const r = byPath.get(path)!;
    expect(r.kind).toBe(e.kind);
    check(r, e);
  });

  it('formats a report the CLI can print', () => {
    const text = formatLintReport(report);
    expect(text).toContain('tools/run.Dockerfile: ok (run)\n');
    expect(text).toContain('switch/run.Dockerfile: ok (run; switches the run image to registry.example.com/runtimes/java:21)\n');
    expect(text).toContain('wrong-from/build.Dockerfile:2: error: build.Dockerfile did not contain required FROM ${base_image} command (write exactly FROM ${base_image}, with the braces)\n');
    expect(text).toContain('warned/run.Dockerfile:4: warning: run.Dockerfile command CMD on line 4 is not recommended\n');
    expect(text.endsWith(`${report.errorCount} errors, ${report.warningCount} warnings in ${inputs.length} files\n`)).toBe(true);
    expect(report.errorCount).toBe(7);
  });

  it('a forced kind overrides the file name', () => {
    const [r] = lintFiles([{ path: 'switch/run.Dockerfile', text: 'FROM registry/x\n' }], 'build').results;
    expect(r!.kind).toBe('build');
    expect(r!.errors[0]!.message).toBe('build.Dockerfile did not start with required ARG command');
  });
});
