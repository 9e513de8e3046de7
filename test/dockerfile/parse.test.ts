import { DockerfileParser } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { DockerfileError, parseDockerfile, type Instruction, type ParsedDockerfile } from '../../src/dockerfile/index.js';

const df = (...lines: string[]) => `${lines.join('\n')}\n`;
const stage = (p: ParsedDockerfile): Instruction[] => p.stages[0]!.instructions;
const only = (text: string): Instruction => {
  const p = parseDockerfile(text);
  return p.instructions[p.instructions.length - 1]!;
};
function parseError(text: string, file?: string): DockerfileError {
  try {
    parseDockerfile(text, file);
  } catch (e) {
    if (e instanceof DockerfileError) return e;
    throw e;
  }
  throw new Error('expected a DockerfileError');
}

describe('parseDockerfile: structure', () => {
  it('splits meta ARGs, the stage and its instructions, with 1-based locations', () => {
    const p = parseDockerfile(df('ARG base_image', 'FROM ${base_image}', '', 'USER root', 'RUN apt-get update'), 'curl/run.Dockerfile');
    expect(p.metaArgs).toHaveLength(1);
    expect(p.metaArgs[0]).toMatchObject({ kind: 'ARG', args: [{ name: 'base_image' }], loc: { file: 'curl/run.Dockerfile', line: 1, endLine: 1 } });
    expect(p.stages).toHaveLength(1);
    expect(p.stages[0]!.from).toMatchObject({ kind: 'FROM', image: '${base_image}', loc: { line: 2, endLine: 2 } });
    expect(stage(p).map((i) => [i.kind, i.loc.line])).toEqual([['USER', 4], ['RUN', 5]]);
    expect(p.instructions).toHaveLength(4);
    expect(p.escape).toBe('\\');
  });

  it('parses several stages (the linter, not the parser, rejects them)', () => {
    const p = parseDockerfile(df('FROM a AS one', 'RUN x', 'FROM b', 'COPY f /'));
    expect(p.stages.map((s) => [s.from.image, s.from.stageName, s.instructions.length])).toEqual([['a', 'one', 1], ['b', undefined, 1]]);
  });

  it('keeps keywords case-insensitive and the original text as written', () => {
    const i = only(df('from x', 'run  echo   hi  '));
    expect(i).toMatchObject({ kind: 'RUN', original: 'run  echo   hi', cmd: { form: 'shell', command: 'echo   hi' } });
  });

  it('rejects an empty file and a file of comments', () => {
    expect(parseError('').code).toBe('EMPTY');
    const e = parseError('# just\n# comments\n\n', 'x/build.Dockerfile');
    expect(e.code).toBe('EMPTY');
    expect(e.message).toMatch(/^x\/build\.Dockerfile:3: file with no instructions/);
  });

  it('rejects instructions other than ARG before FROM', () => {
    const e = parseError(df('ARG a', 'RUN true', 'FROM x'));
    expect(e).toMatchObject({ code: 'NO_STAGE', line: 2 });
  });

  it('names unknown instructions and suggests the closest keyword', () => {
    const e = parseError(df('FROM x', 'RUNN true'), 'b.Dockerfile');
    expect(e.code).toBe('UNKNOWN_INSTRUCTION');
    expect(e.message).toContain('b.Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)');
    expect(parseError(df('FORM x')).detail).toBe('unknown instruction: FORM (did you mean FROM?)');
  });
});

describe('parseDockerfile: lines', () => {
  it('joins continuation lines, dropping the escape and comment lines inside', () => {
    const p = parseDockerfile(df('FROM x', 'RUN apt-get update && \\', '    # a comment \\', '    apt-get install -y curl', 'USER 1000'));
    expect(stage(p)[0]).toMatchObject({
      kind: 'RUN',
      original: 'RUN apt-get update &&     apt-get install -y curl',
      cmd: { command: 'apt-get update &&     apt-get install -y curl' },
      loc: { line: 2, endLine: 4 },
      source: 'RUN apt-get update && \\\n    # a comment \\\n    apt-get install -y curl',
    });
    expect(stage(p)[1]).toMatchObject({ kind: 'USER', loc: { line: 5 } });
  });

  it('allows blanks after the escape character and warns about blank continuation lines', () => {
    const p = parseDockerfile(df('FROM x', 'RUN a \\  ', '', '  b'));
    expect(stage(p)[0]).toMatchObject({ original: 'RUN a   b', loc: { line: 2, endLine: 4 } });
    expect(p.warnings).toEqual([expect.objectContaining({ code: 'EMPTY_CONTINUATION', line: 2, message: 'Empty continuation line found in: RUN a   b' })]);
  });

  it('does not continue after an escaped escape character', () => {
    const p = parseDockerfile(df('FROM x', 'RUN echo a\\\\', 'USER b'));
    expect(stage(p).map((i) => i.original)).toEqual(['RUN echo a\\\\', 'USER b']);
  });

  it('ends a continuation at the end of the file', () => {
    const p = parseDockerfile('FROM x\nRUN echo a \\');
    expect(stage(p)[0]).toMatchObject({ original: 'RUN echo a', loc: { line: 2, endLine: 2 } });
  });

  it('treats a line holding only the escape character as a continuation', () => {
    const p = parseDockerfile(df('FROM x', '\\', 'USER u'));
    expect(stage(p)[0]).toMatchObject({ kind: 'USER', user: 'u', loc: { line: 2, endLine: 3 } });
  });

  it('handles CRLF line endings and a byte-order mark', () => {
    const p = parseDockerfile('\uFEFFFROM x\r\nRUN a \\\r\n  b\r\nUSER u\r\n');
    expect(stage(p).map((i) => i.original)).toEqual(['RUN a   b', 'USER u']);
  });
});

describe('parseDockerfile: parser directives', () => {
  it('switches the escape character to a backtick (Windows style) and records # syntax', () => {
    const p = parseDockerfile(df('# syntax=docker/dockerfile:1', '# escape=`', 'FROM x', 'RUN dir C:\\ `', '  /b', 'ENV P=C:\\path'));
    expect(p.escape).toBe('`');
    expect(p.syntax).toBe('docker/dockerfile:1');
    expect(stage(p)[0]).toMatchObject({ original: 'RUN dir C:\\   /b', loc: { line: 4, endLine: 5 } });
    expect(stage(p)[1]).toMatchObject({ kind: 'ENV', pairs: [{ key: 'P', value: 'C:\\path' }] });
  });

  it('accepts spacing and upper case in a directive', () => {
    expect(parseDockerfile(df('  #  ESCAPE = `', 'FROM x')).escape).toBe('`');
  });

  it('ignores directives after a comment, a blank line or an instruction', () => {
    expect(parseDockerfile(df('# hello', '# escape=`', 'FROM x')).escape).toBe('\\');
    expect(parseDockerfile(df('', '# escape=`', 'FROM x')).escape).toBe('\\');
    expect(parseDockerfile(df('FROM x', '# escape=`')).escape).toBe('\\');
  });

  it('rejects an invalid escape character and a repeated directive, with the line', () => {
    expect(parseError(df('# escape=/', 'FROM x'))).toMatchObject({ code: 'DIRECTIVE', line: 1 });
    expect(parseError(df('# escape=`', '# escape=\\', 'FROM x'))).toMatchObject({ code: 'DIRECTIVE', line: 2 });
  });
});

describe('parseDockerfile: here-documents', () => {
  it('RUN <<EOF takes the body up to the terminator, and the next instruction follows it', () => {
    const p = parseDockerfile(df('FROM x', 'RUN <<EOF', 'apt-get update', 'apt-get install -y curl', 'EOF', 'USER 1000'));
    expect(stage(p)[0]).toMatchObject({
      kind: 'RUN',
      original: 'RUN <<EOF',
      cmd: { form: 'shell', command: '<<EOF' },
      heredocs: [{ name: 'EOF', content: 'apt-get update\napt-get install -y curl\n', chomp: false, expand: true, fd: 0 }],
      loc: { line: 2, endLine: 5 },
    });
    expect(stage(p)[1]).toMatchObject({ kind: 'USER', loc: { line: 6 } });
  });

  it('<<- allows tab-indented bodies and terminators', () => {
    const run = only(df('FROM x', 'RUN <<-EOT', '\techo a', '\t\techo b', '\tEOT'));
    expect(run).toMatchObject({ heredocs: [{ name: 'EOT', content: '\techo a\n\t\techo b\n', chomp: true }], loc: { endLine: 5 } });
  });

  it('a quoted delimiter, fully or partly, turns expansion off', () => {
    for (const [word, name] of [["'EOF'", 'EOF'], ['"EOF"', 'EOF'], ["E'O'F", 'EOF']] as const) {
      const run = only(df('FROM x', `RUN cat <<${word}`, 'echo $HOME', 'EOF'));
      expect(run).toMatchObject({ heredocs: [{ name, expand: false, content: 'echo $HOME\n' }] });
    }
  });

  it('reads several here-docs on one line in order, and file-descriptor here-docs', () => {
    const run = only(df('FROM x', 'RUN 3<<A cat /dev/fd/3 - <<B', 'first', 'A', 'second', 'B'));
    expect(run).toMatchObject({
      cmd: { command: '3<<A cat /dev/fd/3 - <<B' },
      heredocs: [{ name: 'A', content: 'first\n', fd: 3 }, { name: 'B', content: 'second\n', fd: 0 }],
      loc: { line: 2, endLine: 6 },
    });
  });

  it('COPY <<EOF /dest makes inline sources; <<- strips their tabs; flags still apply', () => {
    const p = parseDockerfile(df('FROM x', 'COPY --chmod=755 <<-EOF <<"RAW" real-file /dest/', '\t#!/bin/sh', '\techo $HOME', 'EOF', '"$q"', 'RAW'));
    expect(stage(p)[0]).toMatchObject({
      kind: 'COPY',
      chmod: '755',
      sources: ['real-file'],
      dest: '/dest/',
      inline: [
        { name: 'EOF', data: '#!/bin/sh\necho $HOME\n', expand: true },
        { name: 'RAW', data: '"$q"\n', expand: false },
      ],
    });
  });

  it('here-doc words inside quotes or in JSON form are not here-docs', () => {
    expect(only(df('FROM x', 'RUN echo "<<EOF"'))).toMatchObject({ heredocs: [] });
    expect(only(df('FROM x', 'RUN ["cat", "<<EOF"]'))).toMatchObject({ heredocs: [], cmd: { form: 'exec', argv: ['cat', '<<EOF'] } });
  });

  it('reports an unterminated here-doc with the lines it spans', () => {
    const e = parseError(df('FROM x', 'RUN <<EOF', 'echo hi', 'EOF '), 'ext/build.Dockerfile');
    expect(e).toMatchObject({ code: 'HEREDOC', loc: { line: 2, endLine: 4 } });
    expect(e.message).toMatch(/^ext\/build\.Dockerfile:2: unterminated heredoc/);
  });

  it('rejects a here-doc as a COPY destination', () => {
    expect(parseError(df('FROM x', 'COPY a <<EOF', 'x', 'EOF'))).toMatchObject({ code: 'HEREDOC', line: 2 });
  });

  it('keeps here-docs of ONBUILD triggers in the expression', () => {
    const i = only(df('FROM x', 'ONBUILD RUN <<EOF', 'echo hi', 'EOF'));
    expect(i).toMatchObject({ kind: 'ONBUILD', trigger: 'RUN', expression: 'RUN <<EOF\necho hi\nEOF' });
  });
});

describe('parseDockerfile: exec and shell forms', () => {
  it('JSON string arrays are the exec form', () => {
    expect(only(df('FROM x', 'RUN ["sh", "-c", "echo hi"]'))).toMatchObject({ cmd: { form: 'exec', argv: ['sh', '-c', 'echo hi'] } });
    expect(only(df('FROM x', 'ENTRYPOINT []'))).toMatchObject({ cmd: { form: 'exec', argv: [] } });
    expect(only(df('FROM x', 'SHELL ["/bin/bash", "-eo", "pipefail", "-c"]'))).toMatchObject({ argv: ['/bin/bash', '-eo', 'pipefail', '-c'] });
  });

  it('text that is not valid JSON falls back to the shell form, as in Docker', () => {
    for (const text of ["['single', 'quotes']", '["unterminated"', '[ "a" ] trailing']) {
      expect(only(df('FROM x', `CMD ${text}`))).toMatchObject({ cmd: { form: 'shell', command: text } });
    }
  });

  it('a JSON array of non-strings is an error', () => {
    expect(parseError(df('FROM x', 'CMD ["sleep", 10]'))).toMatchObject({ code: 'SYNTAX', line: 2 });
  });

  it('SHELL must be a non-empty JSON array', () => {
    expect(parseError(df('FROM x', 'SHELL /bin/bash -c')).detail).toBe('SHELL requires the arguments to be in JSON form');
    expect(parseError(df('FROM x', 'SHELL []')).detail).toBe('SHELL requires at least one argument');
  });

  it('COPY in JSON form keeps spaces in paths', () => {
    expect(only(df('FROM x', 'COPY ["my file", "dir/other file", "/dest dir/"]'))).toMatchObject({
      sources: ['my file', 'dir/other file'],
      dest: '/dest dir/',
      json: true,
    });
  });

  it('an empty RUN is an empty shell command', () => {
    expect(only(df('FROM x', 'RUN'))).toMatchObject({ cmd: { form: 'shell', command: '' } });
  });
});

describe('parseDockerfile: flags', () => {
  it('COPY takes --chown --chmod --link --exclude (repeatable) --parents', () => {
    const c = only(df('FROM x', 'COPY --chown=cnb:cnb --chmod=0644 --link --exclude=*.md --exclude="*.txt" --parents a b /dest/'));
    expect(c).toMatchObject({ kind: 'COPY', chown: 'cnb:cnb', chmod: '0644', link: true, exclude: ['*.md', '*.txt'], parents: true, sources: ['a', 'b'] });
  });

  it('ADD takes --checksum --keep-git-dir --unpack', () => {
    const a = only(df('FROM x', 'ADD --checksum=sha256:abc --keep-git-dir=false --unpack=true https://example.com/a.tgz /opt/'));
    expect(a).toMatchObject({ kind: 'ADD', checksum: 'sha256:abc', keepGitDir: false, unpack: true, link: false });
  });

  it('rejects COPY --from with an explanation', () => {
    const e = parseError(df('FROM x', 'COPY --from=builder /out /out'), 'run.Dockerfile');
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toContain('run.Dockerfile:2: COPY --from=builder is not supported');
    expect(e.hint).toMatch(/build context/);
  });

  it('rejects unknown, duplicated and malformed flags, saying which flags exist', () => {
    const unknown = parseError(df('FROM x', 'COPY --owner=1 a /'));
    expect(unknown).toMatchObject({ code: 'FLAG', line: 2 });
    expect(unknown.message).toContain('unknown flag: --owner');
    expect(unknown.message).toContain('COPY accepts --chown');
    expect(parseError(df('FROM x', 'COPY --chown a /')).detail).toBe('COPY: missing a value on flag: --chown');
    expect(parseError(df('FROM x', 'COPY --link=maybe a /')).detail).toBe('COPY: expecting boolean value for flag --link, not: maybe');
    expect(parseError(df('FROM x', 'COPY --chmod=1 --chmod=2 a /')).detail).toBe('COPY: duplicate flag specified: --chmod');
    expect(parseError(df('FROM x', 'ENV --x=1 A=b')).hint).toBe('ENV takes no flags');
    expect(parseError(df('FROM x', 'RUN --security=insecure id')).hint).toMatch(/labs/);
  });

  it('a bare -- ends the flags', () => {
    expect(only(df('FROM x', 'RUN -- --not-a-flag'))).toMatchObject({ cmd: { command: '--not-a-flag' }, mounts: [] });
  });

  it('RUN keeps --mount values for the build and validates --network', () => {
    const r = only(df('FROM x', 'RUN --mount=type=cache,target=/var/cache/apt --mount=type=tmpfs,target=/tmp --network=none apt-get update'));
    expect(r).toMatchObject({ mounts: ['type=cache,target=/var/cache/apt', 'type=tmpfs,target=/tmp'], network: 'none', cmd: { command: 'apt-get update' } });
    expect(parseError(df('FROM x', 'RUN --network=bridge true'))).toMatchObject({ code: 'FLAG' });
  });

  it('FROM takes --platform and AS <name>', () => {
    expect(only(df('FROM --platform=$BUILDPLATFORM ${base_image} AS Builder'))).toMatchObject({
      image: '${base_image}',
      platform: '$BUILDPLATFORM',
      stageName: 'builder',
    });
    expect(parseError(df('FROM a b'))).toMatchObject({ code: 'SYNTAX' });
    expect(parseError(df('FROM a AS 1st'))).toMatchObject({ code: 'SYNTAX' });
  });
});

describe('parseDockerfile: ENV, LABEL, ARG', () => {
  it('ENV k=v pairs keep quotes for the expansion step', () => {
    expect(only(df('FROM x', 'ENV A=1 B="two words" C=\'$lit\' D=a\\ b'))).toMatchObject({
      legacy: false,
      pairs: [{ key: 'A', value: '1' }, { key: 'B', value: '"two words"' }, { key: 'C', value: "'$lit'" }, { key: 'D', value: 'a\\ b' }],
    });
  });

  it('legacy ENV k v takes the rest of the line as the value', () => {
    expect(only(df('FROM x', 'ENV MSG hello  big world'))).toMatchObject({ legacy: true, pairs: [{ key: 'MSG', value: 'hello  big world' }] });
    expect(only(df('FROM x', 'LABEL maintainer Jane <jane@example.com>'))).toMatchObject({ kind: 'LABEL', legacy: true, pairs: [{ key: 'maintainer', value: 'Jane <jane@example.com>' }] });
  });

  it('LABEL keys may be quoted and dotted', () => {
    expect(only(df('FROM x', 'LABEL io.buildpacks.rebasable=true "my key"="v"'))).toMatchObject({
      pairs: [{ key: 'io.buildpacks.rebasable', value: 'true' }, { key: '"my key"', value: '"v"' }],
    });
  });

  it('ENV and LABEL errors', () => {
    expect(parseError(df('FROM x', 'ENV PATH')).detail).toBe('ENV must have two arguments');
    expect(parseError(df('FROM x', 'ENV A=1 B')).detail).toMatch(/can't find = in "B"/);
    expect(parseError(df('FROM x', 'LABEL =x')).detail).toBe('LABEL names can not be blank');
    expect(parseError(df('FROM x', 'ENV')).detail).toBe('ENV requires at least one argument');
  });

  it('ARG declares names with optional defaults', () => {
    expect(only(df('FROM x', 'ARG a b=c d="e f" e='))).toMatchObject({
      args: [{ name: 'a' }, { name: 'b', value: 'c' }, { name: 'd', value: '"e f"' }, { name: 'e', value: '' }],
    });
    expect(parseError(df('FROM x', 'ARG =v')).detail).toBe('ARG names can not be blank');
    expect(parseError(df('FROM x', 'ARG')).code).toBe('SYNTAX');
  });
});

describe('parseDockerfile: other instructions', () => {
  it('USER, WORKDIR, STOPSIGNAL, MAINTAINER take the whole rest', () => {
    const p = parseDockerfile(df('FROM x', 'USER ${user_id}:${group_id}', 'WORKDIR /my dir', 'STOPSIGNAL SIGTERM', 'MAINTAINER Jane Doe'));
    expect(stage(p)).toMatchObject([{ user: '${user_id}:${group_id}' }, { path: '/my dir' }, { signal: 'SIGTERM' }, { maintainer: 'Jane Doe' }]);
    expect(parseError(df('FROM x', 'USER')).detail).toBe('USER requires exactly one argument');
  });

  it('EXPOSE and VOLUME', () => {
    expect(only(df('FROM x', 'EXPOSE 80/tcp 53/udp $PORT'))).toMatchObject({ ports: ['80/tcp', '53/udp', '$PORT'] });
    expect(only(df('FROM x', 'VOLUME ["/data", "/logs"]'))).toMatchObject({ paths: ['/data', '/logs'] });
    expect(only(df('FROM x', 'VOLUME /a /b'))).toMatchObject({ paths: ['/a', '/b'] });
    expect(parseError(df('FROM x', 'VOLUME [""]')).detail).toBe('VOLUME specified can not be an empty string');
  });

  it('HEALTHCHECK NONE, shell and exec forms with Go durations', () => {
    expect(only(df('FROM x', 'HEALTHCHECK NONE'))).toMatchObject({ test: ['NONE'] });
    expect(only(df('FROM x', 'HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f http://localhost/'))).toMatchObject({
      test: ['CMD-SHELL', 'curl -f http://localhost/'],
      options: { interval: 90e9, timeout: 500e6, startPeriod: 0, startInterval: 0, retries: 3 },
    });
    expect(only(df('FROM x', 'HEALTHCHECK --start-period=1.5s CMD ["/bin/check", "-q"]'))).toMatchObject({
      test: ['CMD', '/bin/check', '-q'],
      options: { startPeriod: 1.5e9 },
    });
    expect(parseError(df('FROM x', 'HEALTHCHECK --interval=5 CMD true')).code).toBe('FLAG');
    expect(parseError(df('FROM x', 'HEALTHCHECK --interval=1us CMD true')).detail).toBe('Interval "interval" cannot be less than 1ms');
    expect(parseError(df('FROM x', 'HEALTHCHECK NONE x')).detail).toBe('HEALTHCHECK NONE takes no arguments');
    expect(parseError(df('FROM x', 'HEALTHCHECK RUN true')).detail).toBe('Unknown type "RUN" in HEALTHCHECK (try CMD)');
    expect(parseError(df('FROM x', 'HEALTHCHECK CMD')).detail).toBe('Missing command after HEALTHCHECK CMD');
  });

  it('ONBUILD keeps the trigger text and refuses chaining and FROM', () => {
    expect(only(df('FROM x', 'ONBUILD  COPY . /app'))).toMatchObject({ trigger: 'COPY', expression: 'COPY . /app' });
    expect(parseError(df('FROM x', 'ONBUILD ONBUILD RUN x')).code).toBe('SYNTAX');
    expect(parseError(df('FROM x', 'ONBUILD FROM y')).detail).toBe("FROM isn't allowed as an ONBUILD trigger");
    expect(parseError(df('FROM x', 'ONBUILD FOO y')).code).toBe('UNKNOWN_INSTRUCTION');
  });
});

describe('parseDockerfile agrees with dockerfile-ast on plain files', () => {
  // A differential check on the instruction boundaries, where the two parsers agree by design.
  const files = [
    df('ARG base_image', 'FROM ${base_image}', 'USER root', 'RUN apt-get update && \\', '  apt-get install -y curl', 'COPY run-file /', 'ARG user_id', 'USER ${user_id}'),
    df('# syntax=docker/dockerfile:1', 'FROM x', '', 'ENV A=1 \\', '    B=2', '# comment', 'LABEL a=b', 'CMD ["sh"]', 'EXPOSE 80'),
    df('# escape=`', 'FROM x', 'RUN a `', '  b `', '  c', 'WORKDIR /w'),
  ];
  it.each(files.map((f, i) => [i, f] as const))('file %i', (_i, text) => {
    const ours = parseDockerfile(text).instructions.map((i) => [i.kind, i.loc.line - 1, i.loc.endLine - 1]);
    const theirs = DockerfileParser.parse(text)
      .getInstructions()
      .map((i) => [i.getKeyword(), i.getRange().start.line, i.getRange().end.line]);
    expect(ours).toEqual(theirs);
  });
});
