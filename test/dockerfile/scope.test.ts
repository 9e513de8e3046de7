import { describe, expect, it } from 'vitest';
import {
  BuildScope,
  DockerfileError,
  parseDockerfile,
  type CopyInstruction,
  type Instruction,
  type ParsedDockerfile,
} from '../../src/dockerfile/index.js';

const df = (...lines: string[]) => `${lines.join('\n')}\n`;

/** Applies every instruction of the stage in order and returns the resolved ones. */
function build(p: ParsedDockerfile, scope: BuildScope): Instruction[] {
  return p.stages[0]!.instructions.map((i) => scope.apply(i));
}

describe('BuildScope: meta ARGs and FROM', () => {
  it('FROM ${base_image} resolves from the build arg the lifecycle passes', () => {
    const p = parseDockerfile(df('ARG base_image', 'FROM ${base_image}'));
    const scope = BuildScope.forDockerfile(p, { buildArgs: [['base_image', 'base@sha256:abc']] });
    expect(scope.resolveFrom(p.stages[0]!.from).image).toBe('base@sha256:abc');
  });

  it('meta ARG defaults expand against earlier meta ARGs; build args override them', () => {
    const p = parseDockerfile(df('ARG reg=docker.io', 'ARG img=${reg}/library/debian', 'ARG tag=12', 'FROM $img:$tag'));
    expect(BuildScope.forDockerfile(p).resolveFrom(p.stages[0]!.from).image).toBe('docker.io/library/debian:12');
    const scope = BuildScope.forDockerfile(p, { buildArgs: [['reg', 'example.com'], ['tag', '13']] });
    expect(scope.resolveFrom(p.stages[0]!.from).image).toBe('example.com/library/debian:13');
  });

  it('meta ARGs are not visible inside the stage until re-declared with a bare ARG', () => {
    const p = parseDockerfile(df('ARG v=1', 'FROM x', 'LABEL before=$v', 'ARG v', 'LABEL after=$v'));
    const [before, , after] = build(p, BuildScope.forDockerfile(p));
    expect(before).toMatchObject({ pairs: [{ key: 'before', value: '' }] });
    expect(after).toMatchObject({ pairs: [{ key: 'after', value: '1' }] });
  });

  it('predefined platform ARGs are meta ARGs (FROM) and can be declared in the stage', () => {
    const p = parseDockerfile(df('FROM --platform=$BUILDPLATFORM x', 'ARG TARGETARCH', 'RUN echo $TARGETARCH'));
    const scope = BuildScope.forDockerfile(p, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    expect(scope.resolveFrom(p.stages[0]!.from).platform).toBe('linux/arm64/v8');
    build(p, scope);
    expect(scope.processEnv()).toEqual(['TARGETARCH=arm64']);
  });
});

describe('BuildScope: ARG inside the stage', () => {
  it('a build arg overrides the default; an undeclared build arg is invisible', () => {
    const p = parseDockerfile(df('FROM x', 'ARG build_id=0', 'LABEL id=$build_id other=$user_id'));
    const scope = BuildScope.forDockerfile(p, { buildArgs: [['build_id', 'uuid-1'], ['user_id', '1000']] });
    expect(build(p, scope)[1]).toMatchObject({ pairs: [{ key: 'id', value: 'uuid-1' }, { key: 'other', value: '' }] });
    expect(scope.unusedBuildArgs()).toEqual(['user_id']);
  });

  it('a bare ARG without build arg or meta value is declared but unset', () => {
    const p = parseDockerfile(df('FROM x', 'ARG user_id', 'USER ${user_id:-none}${user_id-unset}'));
    expect(build(p, BuildScope.forDockerfile(p))[1]).toMatchObject({ user: 'noneunset' });
  });

  it('USER ${user_id} expands to the empty string when the lifecycle passes an empty user_id', () => {
    const p = parseDockerfile(df('FROM x', 'ARG user_id', 'USER ${user_id}'));
    const scope = BuildScope.forDockerfile(p, { buildArgs: [['user_id', '']] });
    expect(build(p, scope)[1]).toMatchObject({ user: '' });
  });

  it('defaults are expanded in order, even within one ARG instruction', () => {
    const p = parseDockerfile(df('FROM x', 'ENV V=1.2', 'ARG a=v$V b=${a}-x', 'WORKDIR /opt/$b'));
    expect(build(p, BuildScope.forDockerfile(p))[2]).toMatchObject({ path: '/opt/v1.2-x' });
  });

  it('resolve(ARG) shows the values without declaring them; apply declares them', () => {
    const p = parseDockerfile(df('FROM x', 'ARG a=1 b=$a'));
    const scope = BuildScope.forDockerfile(p);
    const arg = p.stages[0]!.instructions[0]!;
    expect(scope.resolve(arg)).toMatchObject({ args: [{ name: 'a', value: '1' }, { name: 'b', value: '1' }] });
    expect(scope.expand('[$a]')).toBe('[]');
    scope.apply(arg);
    expect(scope.expand('[$a$b]')).toBe('[11]');
  });
});

describe('BuildScope: ENV', () => {
  it('ENV wins over an ARG of the same name, in either order', () => {
    const p = parseDockerfile(df('FROM x', 'ARG A=fromarg', 'ENV A=fromenv', 'ARG B=argB', 'ENV B=envB', 'ARG B=again', 'LABEL a=$A b=$B'));
    const scope = BuildScope.forDockerfile(p);
    expect(build(p, scope)[5]).toMatchObject({ pairs: [{ key: 'a', value: 'fromenv' }, { key: 'b', value: 'envB' }] });
    expect(scope.processEnv()).toEqual(['A=fromenv', 'B=envB']);
  });

  it('every pair of one ENV sees the values from before the instruction', () => {
    const p = parseDockerfile(df('FROM x', 'ENV abc=hello', 'ENV abc=bye def=$abc', 'ENV ghi=$abc'));
    const scope = BuildScope.forDockerfile(p);
    build(p, scope);
    expect(scope.env()).toEqual(['abc=bye', 'def=hello', 'ghi=bye']);
  });

  it('replaces base image variables in place and appends new ones', () => {
    const p = parseDockerfile(df('FROM x', 'ENV PATH=/opt/bin:$PATH NEW="a b"'));
    const scope = BuildScope.forDockerfile(p, { env: ['PATH=/usr/bin:/bin', 'HOME=/root'] });
    build(p, scope);
    expect(scope.env()).toEqual(['PATH=/opt/bin:/usr/bin:/bin', 'HOME=/root', 'NEW=a b']);
  });

  it('legacy ENV processes quotes in the value', () => {
    const p = parseDockerfile(df('FROM x', 'ENV MSG "hello  world" $HOME'));
    const scope = BuildScope.forDockerfile(p, { env: ['HOME=/h'] });
    build(p, scope);
    expect(scope.env()).toContain('MSG=hello  world /h');
  });
});

describe('BuildScope: process environment of RUN', () => {
  it('is the config Env followed by the ARGs in scope that ENV does not shadow; never expanded in the command', () => {
    const p = parseDockerfile(df('FROM x', 'ARG build_id=0', 'ARG unset_one', 'ENV CNB_STACK_ID=x', 'RUN echo ${build_id}'));
    const scope = BuildScope.forDockerfile(p, { env: ['PATH=/bin'], buildArgs: [['build_id', 'b-1'], ['HTTP_PROXY', 'http://proxy:3128']] });
    const run = build(p, scope)[3]!;
    expect(run).toMatchObject({ kind: 'RUN', cmd: { command: 'echo ${build_id}' } });
    expect(scope.processEnv()).toEqual(['PATH=/bin', 'CNB_STACK_ID=x', 'build_id=b-1', 'HTTP_PROXY=http://proxy:3128']);
    expect(scope.unusedBuildArgs()).toEqual([]);
  });

  it('proxy build args are usable without ARG, as in Docker', () => {
    const scope = new BuildScope({ buildArgs: [['https_proxy', 'http://p'], ['other', 'x']] });
    expect(scope.expand('$https_proxy|$other')).toBe('http://p|');
  });
});

describe('BuildScope: which instructions expand', () => {
  const text = df(
    'FROM x',
    'ARG D=/srv',
    'COPY --chown=${U}:${U} --chmod=$M src/$F "$D/"',
    'ADD --checksum=$SUM https://example.com/$F $D/',
    'WORKDIR $D/app',
    'USER $U',
    'VOLUME $D/data',
    'EXPOSE $PORTS',
    'STOPSIGNAL $SIG',
    'LABEL "$F"="$D"',
    'RUN echo $D',
    'CMD echo $D',
    'ENTRYPOINT ["$D"]',
    'HEALTHCHECK CMD test -d $D',
    'ONBUILD RUN echo $D',
  );
  const p = parseDockerfile(text);
  const scope = BuildScope.forDockerfile(p, { env: ['U=cnb', 'M=755', 'F=a.txt', 'SUM=sha256:0', 'PORTS=80 443/udp', 'SIG=SIGINT'] });
  const r = build(p, scope);

  it('expands COPY/ADD paths and flags, WORKDIR, USER, VOLUME, EXPOSE (split), STOPSIGNAL, LABEL', () => {
    expect(r[1]).toMatchObject({ chown: 'cnb:cnb', chmod: '755', sources: ['src/a.txt'], dest: '/srv/' });
    expect(r[2]).toMatchObject({ checksum: 'sha256:0', sources: ['https://example.com/a.txt'], dest: '/srv/' });
    expect(r[3]).toMatchObject({ path: '/srv/app' });
    expect(r[4]).toMatchObject({ user: 'cnb' });
    expect(r[5]).toMatchObject({ paths: ['/srv/data'] });
    expect(r[6]).toMatchObject({ ports: ['80', '443/udp'] });
    expect(r[7]).toMatchObject({ signal: 'SIGINT' });
    expect(r[8]).toMatchObject({ pairs: [{ key: 'a.txt', value: '/srv' }] });
  });

  it('leaves RUN, CMD, ENTRYPOINT, HEALTHCHECK and ONBUILD as written', () => {
    expect(r.slice(9).map((i) => i.original)).toEqual(text.trim().split('\n').slice(10));
    expect(r[9]).toMatchObject({ cmd: { command: 'echo $D' } });
    expect(r[11]).toMatchObject({ cmd: { argv: ['$D'] } });
    expect(r[12]).toMatchObject({ test: ['CMD-SHELL', 'test -d $D'] });
  });

  it('expands COPY here-doc bodies unless the delimiter is quoted, keeping quotes', () => {
    const q = parseDockerfile(df('FROM x', 'COPY <<EOF <<"RAW" /etc/', 'home="$HOME" \\$x', 'EOF', 'home="$HOME"', 'RAW'));
    const c = new BuildScope({ env: ['HOME=/home/cnb'] }).resolve(q.stages[0]!.instructions[0]!) as CopyInstruction;
    expect(c.inline.map((s) => s.data)).toEqual(['home="/home/cnb" $x\n', 'home="$HOME"\n']);
  });

  it('uses the backtick escape character for expansion when the file sets it', () => {
    const b = parseDockerfile(df('# escape=`', 'FROM x', 'WORKDIR C:\\app\\$N `$N'));
    const scope = BuildScope.forDockerfile(b, { env: ['N=x'] });
    expect(scope.apply(b.stages[0]!.instructions[0]!)).toMatchObject({ path: 'C:\\app\\x $N' });
  });

  it('parses and expands RUN --mount options', () => {
    const m = parseDockerfile(df('FROM x', 'ARG C=/var/cache/apt', 'RUN --mount=type=cache,target=$C,id=apt --mount=type=secret,id=tok,env=TOKEN true'));
    const s = BuildScope.forDockerfile(m);
    const [arg, run] = m.stages[0]!.instructions;
    s.apply(arg!);
    expect(s.runMounts(run as never)).toEqual([
      { type: 'cache', target: '/var/cache/apt', id: 'apt', readOnly: false, required: false },
      { type: 'secret', id: 'tok', env: 'TOKEN', readOnly: true, required: false },
    ]);
  });
});

describe('BuildScope: errors carry the instruction location', () => {
  it('${VAR:?message} fails with file and line', () => {
    const p = parseDockerfile(df('FROM x', 'ARG version', 'RUN true', 'WORKDIR /opt/${version:?set --build-arg version}'), 'ext/build.Dockerfile');
    const scope = BuildScope.forDockerfile(p);
    let err: unknown;
    try {
      build(p, scope);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DockerfileError);
    expect(err).toMatchObject({ code: 'EXPAND', line: 4, file: 'ext/build.Dockerfile' });
    expect((err as Error).message).toBe('ext/build.Dockerfile:4: failed to process "/opt/${version:?set --build-arg version}": version: set --build-arg version');
  });

  it('bad --mount options fail with the RUN line', () => {
    const p = parseDockerfile(df('FROM x', 'RUN --mount=type=volume,target=/x true'));
    expect(() => new BuildScope().runMounts(p.stages[0]!.instructions[0] as never)).toThrow(/:2: RUN --mount: unsupported mount type "volume"/);
  });
});
