import { lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveSources } from '../../src/build/context-sources.js';
import { copySources, writeHeredocFile, type CopyPlan } from '../../src/build/copy.js';
import { IgnoreMatcher } from '../../src/build/dockerignore.js';
import { BuildError } from '../../src/build/errors.js';
import { tmpDir } from '../helpers/tmp.js';

async function setup() {
  const base = await tmpDir();
  const ctx = join(base, 'ctx');
  const root = join(base, 'root');
  mkdirSync(join(ctx, 'dir/sub'), { recursive: true });
  writeFileSync(join(ctx, 'a.txt'), 'A');
  writeFileSync(join(ctx, 'b.txt'), 'B');
  writeFileSync(join(ctx, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(ctx, 'dir/one'), '1');
  writeFileSync(join(ctx, 'dir/sub/two'), '2');
  symlinkSync('one', join(ctx, 'dir/link'));
  mkdirSync(join(root, 'usr/lib64'), { recursive: true });
  symlinkSync('usr/lib64', join(root, 'lib64'));
  symlinkSync('/', join(root, 'hostroot'));
  return { base, ctx, root };
}

function plan(ctx: string, root: string, srcs: string[], dest: string, extra: Partial<CopyPlan> = {}): CopyPlan {
  const ignore = extra.ignore ?? new IgnoreMatcher([]);
  return { rootfs: root, sources: resolveSources(ctx, srcs, ignore, { line: 3 }), dest, workdir: '/', owner: undefined, chmod: undefined, ignore, where: { line: 3 }, ...extra };
}

describe('COPY', () => {
  it('copies a file to a file path, into a dir path, and a directory by its contents', async () => {
    const { ctx, root } = await setup();
    copySources(plan(ctx, root, ['a.txt'], '/opt/renamed'));
    expect(readFileSync(join(root, 'opt/renamed'), 'utf8')).toBe('A');
    copySources(plan(ctx, root, ['a.txt', 'b.txt'], '/opt/many/'));
    expect(readdirSync(join(root, 'opt/many')).sort()).toEqual(['a.txt', 'b.txt']);
    copySources(plan(ctx, root, ['dir'], '/data'));
    expect(readFileSync(join(root, 'data/sub/two'), 'utf8')).toBe('2');
    expect(readlinkSync(join(root, 'data/link'))).toBe('one');
    expect(existsSync(join(root, 'data/dir'))).toBe(false);
  });

  it('keeps modes, owns files by root unless --chown, applies --chmod', async () => {
    const { ctx, root } = await setup();
    copySources(plan(ctx, root, ['run.sh'], '/bin/'));
    const st = lstatSync(join(root, 'bin/run.sh'));
    expect(st.mode & 0o7777).toBe(0o755);
    expect([st.uid, st.gid]).toEqual([0, 0]);
    copySources(plan(ctx, root, ['a.txt'], '/home/app/', { owner: { uid: 1000, gid: 1001 }, chmod: 0o600 }));
    const f = lstatSync(join(root, 'home/app/a.txt'));
    expect([f.uid, f.gid, f.mode & 0o7777]).toEqual([1000, 1001, 0o600]);
    // Every directory the COPY creates gets the --chown owner (BuildKit's fsutil MkdirAll)...
    const d = lstatSync(join(root, 'home/app'));
    expect([d.uid, d.gid]).toEqual([1000, 1001]);
    expect([lstatSync(join(root, 'home')).uid, lstatSync(join(root, 'home')).gid]).toEqual([1000, 1001]);
    // ...and directories that already existed keep theirs.
    copySources(plan(ctx, root, ['b.txt'], '/usr/lib64/deeper/', { owner: { uid: 7, gid: 8 } }));
    expect([lstatSync(join(root, 'usr/lib64')).uid, lstatSync(join(root, 'usr/lib64/deeper')).uid]).toEqual([0, 7]);
  });

  it('completes a dangling image symlink on the destination path, inside the rootfs', async () => {
    const { ctx, root } = await setup();
    symlinkSync('/srv/missing/target', join(root, 'through'));
    copySources(plan(ctx, root, ['a.txt'], '/through/'));
    expect(readFileSync(join(root, 'srv/missing/target/a.txt'), 'utf8')).toBe('A');
    expect(lstatSync(join(root, 'through')).isSymbolicLink()).toBe(true);
  });

  it('matches wildcards and honours .dockerignore', async () => {
    const { ctx, root } = await setup();
    const ignore = IgnoreMatcher.fromText('b.txt\ndir/sub');
    copySources(plan(ctx, root, ['*.txt'], '/w/', { ignore }));
    expect(readdirSync(join(root, 'w'))).toEqual(['a.txt']);
    copySources(plan(ctx, root, ['dir'], '/d/', { ignore }));
    expect(readdirSync(join(root, 'd')).sort()).toEqual(['link', 'one']);
    expect(() => plan(ctx, root, ['b.txt'], '/x', { ignore })).toThrow(/excluded by .dockerignore/);
  });

  it('follows image symlinks for the destination, but only inside the rootfs', async () => {
    const { ctx, root, base } = await setup();
    copySources(plan(ctx, root, ['a.txt'], '/lib64/'));
    expect(readFileSync(join(root, 'usr/lib64/a.txt'), 'utf8')).toBe('A');
    copySources(plan(ctx, root, ['a.txt'], '/hostroot/tmp/escaped'));
    expect(readFileSync(join(root, 'tmp/escaped'), 'utf8')).toBe('A');
    expect(existsSync('/tmp/escaped')).toBe(false);
    expect(readdirSync(base).sort()).toEqual(['ctx', 'root']);
  });

  it('refuses sources outside the context', async () => {
    const { ctx, root, base } = await setup();
    writeFileSync(join(base, 'secret'), 'S');
    symlinkSync('../secret', join(ctx, 'leak'));
    symlinkSync('/etc/passwd', join(ctx, 'passwd'));
    for (const src of ['../secret', 'leak', 'passwd', 'dir/../../secret']) {
      let err: unknown;
      try {
        plan(ctx, root, [src], '/x');
      } catch (e) {
        err = e;
      }
      expect(err, src).toBeInstanceOf(BuildError);
      expect((err as BuildError).code, src).toBe('CONTEXT_ESCAPE');
    }
    // A symlink inside a copied directory is copied as a symlink, never read through.
    mkdirSync(join(ctx, 'tree'));
    symlinkSync('/etc/passwd', join(ctx, 'tree/p'));
    copySources(plan(ctx, root, ['tree'], '/t/'));
    expect(lstatSync(join(root, 't/p')).isSymbolicLink()).toBe(true);
  });

  it('errors clearly for missing sources and many sources to a file', async () => {
    const { ctx, root } = await setup();
    expect(() => plan(ctx, root, ['nope'], '/x')).toThrow(/not found in the build context: nope/);
    expect(() => plan(ctx, root, ['*.none'], '/x/')).toThrow(/matched no files/);
    expect(() => copySources(plan(ctx, root, ['a.txt', 'b.txt'], '/file'))).toThrow(/must be a directory/);
  });

  it('writes here-documents', async () => {
    const { root } = await setup();
    writeHeredocFile({ rootfs: root, dest: '/etc/motd', workdir: '/', owner: undefined, chmod: undefined, where: { line: 1 } }, 'EOF', 'hello\n');
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('hello\n');
    expect(lstatSync(join(root, 'etc/motd')).mode & 0o777).toBe(0o644);
  });
});
