// The extender's runtime for tests: the fake engine, and a real (if simple) builder runtime: the
// rootfs is the image's layers extracted with GNU tar, and the command runs in a private mount
// namespace (unshare) with bind mounts and chroot --userspec. It stands in for snapshot/ and
// ChrootExecutor with ProcessSpec.binds until those are wired into the extender.
import { spawn } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Image } from '../../../oci/index.js';
import type { ExtenderRuntime } from '../../../src/cli/extender.js';
import type { Bind, BuilderExecutor, RootfsHandle } from '../../../src/extender/builder.js';
import type { FakeEngine } from './fake-engine.js';

export async function extractRootfs(image: Image, workDir: string): Promise<RootfsHandle> {
  const root = join(workDir, `rootfs-${Date.now()}`);
  await mkdir(root, { recursive: true });
  for (const l of image.layers) {
    const tar = spawn('tar', ['-x', '-p', '--numeric-owner', '-C', root], { stdio: ['pipe', 'ignore', 'inherit'] });
    const done = new Promise<void>((res, rej) => tar.on('close', (c) => (c === 0 ? res() : rej(new Error(`tar exit ${c}`)))));
    await pipeline(await l.openUncompressed(), tar.stdin);
    await done;
  }
  return { root, close: () => rm(root, { recursive: true, force: true }) };
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export class UnshareChrootExecutor implements BuilderExecutor {
  readonly specs: { argv: string[]; env: string[]; cwd: string; user: string; binds: Bind[] }[] = [];

  async run(
    root: string,
    p: { argv: string[]; env: string[]; cwd: string; user: string; binds?: Bind[]; stdout: (l: string) => void; stderr: (l: string) => void },
  ): Promise<{ exitCode: number }> {
    const binds = p.binds ?? [];
    this.specs.push({ argv: p.argv, env: p.env, cwd: p.cwd, user: p.user, binds });
    const lines: string[] = ['set -e'];
    for (const b of binds) {
      const target = join(root, b.target);
      const isDir = (await stat(b.source)).isDirectory();
      lines.push(isDir ? `mkdir -p ${q(target)}` : `mkdir -p "$(dirname ${q(target)})"; touch ${q(target)}`);
      lines.push(`mount --bind ${q(b.source)} ${q(target)}`);
      if (b.readOnly) lines.push(`mount -o remount,bind,ro ${q(target)}`);
    }
    const envArgs = p.env.map(q).join(' ');
    lines.push(`exec env -i ${envArgs} chroot --userspec=${q(p.user)} ${q(root)} /bin/sh -c 'cd "$1" && shift && exec "$@"' sh ${q(p.cwd)} ${p.argv.map(q).join(' ')}`);
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', lines.join('\n')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 128)));
    for (const l of out.split('\n').filter(Boolean)) p.stdout(l);
    for (const l of err.split('\n').filter(Boolean)) p.stderr(l);
    return { exitCode: code };
  }
}

export function testRuntime(engine: FakeEngine, opts: { cwd?: string; now?: () => number } = {}): ExtenderRuntime & { executor: UnshareChrootExecutor; builderRuntimes: number } {
  const executor = new UnshareChrootExecutor();
  const rt = {
    cwd: opts.cwd ?? '/',
    version: '9.9.9-test',
    executor,
    builderRuntimes: 0,
    createEngine: async () => engine,
    createBuilderRuntime: async () => {
      rt.builderRuntimes++;
      return { openRootfs: extractRootfs, executor };
    },
    ...(opts.now ? { now: opts.now } : {}),
  };
  return rt;
}

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export function captureIO(): { io: { stdout: { write(s: string): boolean }; stderr: { write(s: string): boolean } }; out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return {
    io: { stdout: { write: (s: string) => ((o += s), true) }, stderr: { write: (s: string) => ((e += s), true) } },
    out: () => o,
    err: () => e,
  };
}
