import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  commandArgv,
  createdBy,
  parseDockerfile,
  parseRunMount,
  runInvocation,
  type RunInstruction,
} from '../../src/dockerfile/index.js';
import { tmpDir } from '../helpers/tmp.js';

const df = (...lines: string[]) => `${lines.join('\n')}\n`;
const lastRun = (text: string): RunInstruction => {
  const i = parseDockerfile(text).instructions.at(-1)!;
  if (i.kind !== 'RUN') throw new Error('not a RUN');
  return i;
};

/**
 * Runs the invocation with the host's /bin/sh in `cwd`, placing inline files under `root` instead
 * of the container's /dev/pipes (the only difference from a real RUN).
 */
async function runOnHost(run: RunInstruction, shell?: string[]): Promise<string> {
  const root = await tmpDir();
  const inv = runInvocation(run, shell);
  const argv = inv.argv.map((a) => {
    const f = inv.files.find((x) => x.path === a);
    return f ? join(root, f.path) : a;
  });
  for (const f of inv.files) {
    const p = join(root, f.path);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, f.data);
    chmodSync(p, f.mode);
  }
  return execFileSync(argv[0]!, argv.slice(1), { cwd: root, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', NAME: 'world' } });
}

describe('runInvocation', () => {
  it('shell form runs under SHELL; exec form as given', () => {
    expect(runInvocation(lastRun(df('FROM x', 'RUN echo "a  b" | tr a c')))).toEqual({ argv: ['/bin/sh', '-c', 'echo "a  b" | tr a c'], files: [] });
    expect(runInvocation(lastRun(df('FROM x', 'RUN echo hi')), ['/bin/bash', '-o', 'pipefail', '-c']).argv).toEqual(['/bin/bash', '-o', 'pipefail', '-c', 'echo hi']);
    expect(runInvocation(lastRun(df('FROM x', 'RUN ["printf", "%s", "$NAME"]'))).argv).toEqual(['printf', '%s', '$NAME']);
  });

  it('RUN <<EOF runs the body as the script', async () => {
    const run = lastRun(df('FROM x', 'RUN <<EOF', 'set -e', 'echo "hello $NAME"', 'echo second line', 'EOF'));
    expect(runInvocation(run).argv).toEqual(['/bin/sh', '-c', 'set -e\necho "hello $NAME"\necho second line\n']);
    expect(await runOnHost(run)).toBe('hello world\nsecond line\n');
  });

  it('RUN <<-EOF strips the tabs first; RUN <<"EOF" still runs the body (the shell expands it)', async () => {
    expect(await runOnHost(lastRun(df('FROM x', 'RUN <<-EOF', '\techo "tabs $NAME"', '\tEOF')))).toBe('tabs world\n');
    expect(await runOnHost(lastRun(df('FROM x', 'RUN <<"EOF"', 'echo "quoted $NAME"', 'EOF')))).toBe('quoted world\n');
  });

  it('a #! body becomes an executable file so its interpreter runs it', async () => {
    const run = lastRun(df('FROM x', 'RUN <<EOF', '#!/bin/sh -e', 'echo "interpreter: $0"', 'EOF'));
    const inv = runInvocation(run);
    expect(inv).toEqual({
      argv: ['/bin/sh', '-c', '/dev/pipes/EOF'],
      files: [{ path: '/dev/pipes/EOF', data: '#!/bin/sh -e\necho "interpreter: $0"\n', mode: 0o755 }],
    });
    expect(await runOnHost(run)).toMatch(/^interpreter: .*\/dev\/pipes\/EOF\n$/);
  });

  it('other here-doc uses are handed to the shell with their bodies and terminators', async () => {
    const run = lastRun(df('FROM x', 'RUN cat <<A && cat <<-"B"', 'first $NAME', 'A', '\tsecond $NAME', '\tB'));
    expect(runInvocation(run).argv[2]).toBe('cat <<A && cat <<-"B"\nfirst $NAME\nA\n\tsecond $NAME\nB');
    expect(await runOnHost(run)).toBe('first world\nsecond $NAME\n');
  });
});

describe('commandArgv', () => {
  it('is what CMD/ENTRYPOINT store in the config', () => {
    expect(commandArgv({ form: 'shell', command: 'web --port 8080' })).toEqual(['/bin/sh', '-c', 'web --port 8080']);
    expect(commandArgv({ form: 'exec', argv: ['web'] }, ['/bin/bash', '-c'])).toEqual(['web']);
  });
});

describe('createdBy: the history text kaniko writes', () => {
  it.each([
    [df('FROM x', 'RUN apt-get update && apt-get install -y curl'), 'RUN apt-get update && apt-get install -y curl'],
    [df('FROM x', 'COPY run-file /'), 'COPY run-file /'],
    [df('FROM x', 'COPY --chown=1000:1000 --chmod=755 a /b'), 'COPY --chown=1000:1000 --chmod=755 a /b'],
    [df('FROM x', 'RUN apt-get update && \\', '    apt-get install -y tree'), 'RUN apt-get update &&     apt-get install -y tree'],
    [df('FROM x', 'RUN <<EOF', 'echo hi', 'EOF'), 'RUN <<EOF'],
    [df('FROM x', 'RUN ["sh", "-c", "echo hi"]'), 'RUN ["sh", "-c", "echo hi"]'],
    [df('FROM x', '  run   echo  lower  '), 'run   echo  lower'],
    [df('# escape=`', 'FROM x', 'RUN a `', '  b'), 'RUN a   b'],
  ])('%j', (text, expected) => {
    expect(createdBy(parseDockerfile(text).instructions.at(-1)!)).toBe(expected);
  });
});

describe('parseRunMount', () => {
  it('defaults: bind read-only, cache and tmpfs writable', () => {
    expect(parseRunMount('target=/src')).toEqual({ type: 'bind', target: '/src', readOnly: true, required: false });
    expect(parseRunMount('type=cache,target=/root/.cache,sharing=locked,mode=0755,uid=1000')).toEqual({
      type: 'cache', target: '/root/.cache', sharing: 'locked', mode: 0o755, uid: 1000, readOnly: false, required: false,
    });
    expect(parseRunMount('type=tmpfs,dst=/tmp,size=64m')).toEqual({ type: 'tmpfs', target: '/tmp', size: 64 * 1024 * 1024, readOnly: false, required: false });
  });

  it('flags without values and quoted CSV fields', () => {
    expect(parseRunMount('type=secret,id=npmrc,required,target=/root/.npmrc')).toMatchObject({ required: true, id: 'npmrc' });
    expect(parseRunMount('type=bind,"source=a,b",target=/x,rw')).toMatchObject({ source: 'a,b', readOnly: false });
  });

  it.each([
    ['type=volume,target=/x', /unsupported mount type "volume"/],
    ['type=bind,target=/x,mode=0755', /mode not allowed for "bind"/],
    ['type=cache,target=/x,required', /unexpected key 'required'/],
    ['type=cache,target=/x,size=1g', /unexpected key 'size'/],
    ['type=cache,target=/x,sharing=maybe', /unsupported sharing value/],
    ['type=secret', /one of source, target required/],
    ['type=secret,id=a,source=b', /both source and id/],
    ['type=cache', /needs a target/],
    ['type=cache,target=/x,uid=-1', /invalid value -1 for uid/],
    ['type=cache,target=/x,bogus=1', /unexpected key 'bogus'/],
    ['type=cache,target=/x,ro=perhaps', /invalid value for ro/],
    ['"type=cache,target=/x', /unterminated quote/],
  ])('%s is rejected', (spec, re) => {
    expect(() => parseRunMount(spec)).toThrow(re);
  });
});
