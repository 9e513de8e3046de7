// The build engine end to end with real chroot runs on the busybox fixture: failing RUNs (library
// and CLI), steps that change nothing, the layers' media-type family, reproducible layers with
// SOURCE_DATE_EPOCH, the scan snapshotter against overlay, and the COPY/ADD flags that are
// implemented or refused (--parents, --link, --checksum, --keep-git-dir).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OciLayout, validateLayout, type Image } from '../../oci/index.js';
import { BuildError } from '../../src/build/index.js';
import { runApply, type ApplyOutcome } from '../../src/cli/apply.js';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import { silentLogger } from '../../src/log.js';
import { BaseTree, compareSummaries } from '../helpers/compare-layouts.js';
import { fixture, hasCommand, isRoot } from '../helpers/fixtures.js';
import { tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';

const REPO = resolve(import.meta.dirname, '../..');
const CLI = join(REPO, 'dist/src/cli/bin.js');
const HEAD = 'ARG base_image\nFROM ${base_image}\nUSER root\n';

interface Built extends ApplyOutcome {
  out: string;
  image: Image;
}

/** Writes `dockerfile` and `context` files into a temp dir and applies it with runApply. */
async function apply(dockerfile: string, opts: {
  context?: Record<string, string | Buffer>;
  base?: string;
  snapshotter?: 'overlay' | 'scan' | 'auto';
  sourceDateEpoch?: number;
  cacheDir?: string;
  buildArgs?: Array<[string, string]>;
} = {}): Promise<Built> {
  const dir = await tmpDir('cnbx-engine-');
  const ctx = join(dir, 'ctx');
  mkdirSync(ctx);
  for (const [name, content] of Object.entries(opts.context ?? {})) {
    mkdirSync(join(ctx, name, '..'), { recursive: true });
    writeFileSync(join(ctx, name), content);
  }
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  const out = join(dir, 'out');
  const outcome = await runApply(
    {
      base: opts.base ?? `${fixture('busybox')}:latest`,
      dockerfile: join(dir, 'Dockerfile'),
      context: ctx,
      buildArgs: opts.buildArgs ?? [],
      output: `${out}:latest`,
      sparse: false,
      snapshotter: opts.snapshotter ?? 'auto',
      kind: 'build',
      cacheDir: opts.cacheDir ?? join(dir, 'cache'),
      ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
    },
    silentLogger,
  );
  const image = await (await OciLayout.open(out)).image({ tag: 'latest' });
  return { ...outcome, out, image };
}

async function failure(p: Promise<unknown>): Promise<BuildError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e, 'expected the build to fail').toBeInstanceOf(BuildError);
  return e as BuildError;
}

function runCli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [CLI, ...argv], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', fail);
    child.on('close', (code) => ok({ code, stdout, stderr }));
  });
}

/** A copy of the busybox fixture whose manifest, config and layers use Docker schema2 media types. */
async function dockerMediaTypeBase(dir: string): Promise<string> {
  const src = fixture('busybox');
  const out = join(dir, 'docker-base');
  mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
  for (const name of readdirSync(join(src, 'blobs', 'sha256'))) symlinkSync(join(src, 'blobs', 'sha256', name), join(out, 'blobs', 'sha256', name));
  const index = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(readFileSync(join(src, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as {
    config: { mediaType: string }; layers: Array<{ mediaType: string }>;
  };
  const docker = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { ...manifest.config, mediaType: 'application/vnd.docker.container.image.v1+json' },
    layers: manifest.layers.map((l) => ({ ...l, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' })),
  };
  const bytes = Buffer.from(JSON.stringify(docker));
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(out, 'blobs', 'sha256', hex), bytes);
  writeFileSync(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(out, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: docker.mediaType, digest: `sha256:${hex}`, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  return out;
}

describe.skipIf(!isRoot)('build engine (real chroot runs on busybox)', () => {
  it('a failing RUN is a BuildError RUN_FAILED with the instruction, its line and the exit code', async () => {
    const e = await failure(apply(`${HEAD}RUN echo first > /first\n\nRUN echo about to fail && exit 7\nRUN echo never > /never\n`));
    expect(e.code).toBe('RUN_FAILED');
    expect(e.line).toBe(6);
    expect(e.exitCode).toBe(7);
    expect(e.instruction).toBe('RUN echo about to fail && exit 7');
    expect(e.message).toMatch(/:6: RUN echo about to fail && exit 7: .*non-zero code: 7$/);
  });

  it('`cnb-extender apply` exits 4 on a failing RUN, names the instruction, line and code, and leaves no output', async () => {
    const dir = await tmpDir('cnbx-engine-cli-');
    writeFileSync(join(dir, 'Dockerfile'), `${HEAD}RUN echo ok > /ok\nRUN exit 3\n`);
    const out = join(dir, 'out');
    const r = await runCli(['apply', '-base', `${fixture('busybox')}:latest`, '-dockerfile', join(dir, 'Dockerfile'), '-output', `${out}:latest`,
      '-cache-dir', join(dir, 'cache')]);
    expect(r.code).toBe(EXIT_CODES.runFailed);
    expect(r.stderr).toMatch(/ERROR: .*Dockerfile:5: RUN exit 3: the command returned a non-zero code: 3/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['Dockerfile', 'cache']);
    expect(readdirSync(join(dir, 'cache', 'work'))).toEqual([]);
  });

  it('`cnb-extender apply` writes a valid layout; with SOURCE_DATE_EPOCH a second apply gives the same image', async () => {
    const dir = await tmpDir('cnbx-engine-cli-');
    writeFileSync(join(dir, 'Dockerfile'), `${HEAD}RUN echo ok > /ok && mkdir /made\n`);
    const digests: string[] = [];
    for (const n of [1, 2]) {
      const out = join(dir, `out${n}`);
      const r = await runCli(['apply', '-base', `${fixture('busybox')}:latest`, '-dockerfile', join(dir, 'Dockerfile'), '-output', `${out}:v1`,
        '-cache-dir', join(dir, 'cache')], { SOURCE_DATE_EPOCH: '1700000000' });
      expect(r.stderr).not.toMatch(/ERROR/);
      expect(r.code).toBe(0);
      const m = new RegExp(`^${out}:v1 (sha256:[0-9a-f]{64})\\n  2 steps, 1 new layer`).exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      digests.push(m![1]!);
      await validateLayout(out);
    }
    expect(digests[1]).toBe(digests[0]);
  });

  it('steps that change nothing add no layer; metadata steps add only empty_layer history', async () => {
    const b = await apply(`${HEAD}RUN true\nRUN echo changes > /changed\nRUN test -f /changed\nWORKDIR /tmp\nENV A=1\nCOPY empty/ /tmp/\nLABEL x=y\n`, {
      context: { 'empty/.keep': '' },
    });
    const base = b.base;
    expect(b.result.newLayers).toHaveLength(2); // RUN echo (a file) and COPY (/tmp/.keep)
    expect(b.image.layers).toHaveLength(base.layers.length + 2);
    const steps = b.result.steps.map((s) => [s.instruction, s.layer !== null]);
    expect(steps).toEqual([
      ['USER root', false], ['RUN true', false], ['RUN echo changes > /changed', true], ['RUN test -f /changed', false],
      ['WORKDIR /tmp', false], ['ENV A=1', false], ['COPY empty/ /tmp/', true], ['LABEL x=y', false],
    ]);
    const history = b.image.config.history ?? [];
    const added = history.slice((base.config.history ?? []).length);
    expect(added.filter((h) => !h.empty_layer).map((h) => h.created_by)).toEqual(['RUN echo changes > /changed', 'COPY empty/ /tmp/']);
    expect(added.filter((h) => h.empty_layer).map((h) => h.created_by)).toEqual(['USER root', 'ENV A=1', 'LABEL x=y']);
    // The lifecycle's invariant: one non-empty history entry per layer.
    expect(history.filter((h) => !h.empty_layer)).toHaveLength(b.image.config.rootfs.diff_ids.length);
  });

  it('new layers use the base manifest\'s media-type family (OCI and Docker schema2)', async () => {
    const df = `${HEAD}RUN echo x > /x\n`;
    const oci = await apply(df);
    expect(oci.image.manifestMediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(oci.result.newLayers.map((l) => l.descriptor.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+gzip']);
    await validateLayout(oci.out);

    const dockerBase = await dockerMediaTypeBase(await tmpDir('cnbx-docker-base-'));
    const docker = await apply(df, { base: `${dockerBase}:latest` });
    expect(docker.image.manifestMediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(docker.image.layers.map((l) => l.descriptor.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ]);
  });

  it('applying the same Dockerfile twice with SOURCE_DATE_EPOCH gives identical layers', async () => {
    const df = `${HEAD}RUN mkdir -p /opt/app && echo built > /opt/app/file && touch /opt/app/now && sleep 1\nCOPY src/ /opt/app/src/\nWORKDIR /opt/app/work\nRUN rm /bin/vi && ln -s /opt/app/file /opt/app/link\n`;
    const context = { 'src/a.txt': 'a', 'src/sub/b.txt': 'b' };
    const first = await apply(df, { context, sourceDateEpoch: 1700000000 });
    const second = await apply(df, { context, sourceDateEpoch: 1700000000 });
    expect(first.result.newLayers).toHaveLength(4);
    expect(second.image.config.rootfs.diff_ids).toEqual(first.image.config.rootfs.diff_ids);
    expect(second.result.newLayers.map((l) => l.descriptor.digest)).toEqual(first.result.newLayers.map((l) => l.descriptor.digest));
    expect(second.image.digest).toBe(first.image.digest);
  });

  it.skipIf(!hasCommand('umoci'))('the scan snapshotter gives the same final tree and config as overlay', async () => {
    const df = `${HEAD}RUN mkdir -p /opt/a/b && echo one > /opt/a/b/f && chmod 4755 /opt/a/b/f && ln -s b /opt/a/l\n` +
      'RUN rm -rf /home/cnb /bin/vi && echo replaced > /etc/group && mkfifo /opt/fifo\n' +
      'COPY --chown=cnb dir/ /opt/copied/\nRUN rm -rf /opt/a && mkdir /opt/a && echo again > /opt/a/new\nUSER cnb\n';
    const context = { 'dir/x': 'x', 'dir/y/z': 'z' };
    const overlay = await apply(df, { context, snapshotter: 'overlay', sourceDateEpoch: 1700000000 });
    const scan = await apply(df, { context, snapshotter: 'scan', sourceDateEpoch: 1700000000 });
    expect([overlay.snapshotter, scan.snapshotter]).toEqual(['overlay', 'scan']);
    const work = await tmpDir('cnbx-engine-cmp-');
    const base = BaseTree.open(fixture('busybox'), work);
    const a = base.describe(overlay.out, { tag: 'latest', workDir: work });
    const b = base.describe(scan.out, { tag: 'latest', workDir: work });
    expect(a.fs.get('opt/a/new')?.type).toBe('file');
    expect(a.fs.has('home/cnb')).toBe(false);
    expect(compareSummaries(a, b)).toEqual([]);
    expect(scan.result.newLayers).toHaveLength(overlay.result.newLayers.length);
  });

  it('COPY --parents keeps the source paths (and honours a /./ pivot)', async () => {
    const b = await apply(`${HEAD}COPY --parents x/a.txt y/*.txt /p/\nCOPY --parents ./src/./pkg/one.json /q/\nCOPY --parents dir /r/\n`, {
      context: { 'x/a.txt': 'a', 'y/b.txt': 'b', 'y/c.txt': 'c', 'src/pkg/one.json': '{}', 'dir/in/deep': 'd' },
    });
    const work = await tmpDir('cnbx-engine-cmp-');
    const t = BaseTree.open(fixture('busybox'), work).describe(b.out, { tag: 'latest', workDir: work });
    const added = [...t.fs.keys()].filter((p) => /^[pqr](\/|$)/.test(p)).sort();
    expect(added).toEqual(['p', 'p/x', 'p/x/a.txt', 'p/y', 'p/y/b.txt', 'p/y/c.txt', 'q', 'q/pkg', 'q/pkg/one.json', 'r', 'r/dir', 'r/dir/in', 'r/dir/in/deep']);
  });

  it('COPY --link copies like COPY, and is refused through an image symlink', async () => {
    const ok = await apply(`${HEAD}COPY --link a.txt /linked/\n`, { context: { 'a.txt': 'a' } });
    expect(ok.result.newLayers).toHaveLength(1);
    const e = await failure(apply(`${HEAD}RUN ln -s /usr/bin /ubin\nCOPY --link a.txt /ubin/\n`, { context: { 'a.txt': 'a' } }));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.line).toBe(5);
    expect(e.message).toMatch(/COPY --link \/ubin\/?: \/ubin is a symlink in the image.*copy to \/usr\/bin/);
  });

  it('COPY --exclude matches paths relative to each source; ADD --unpack=false copies an archive as a file', async () => {
    const archive = gzipSync(tarFrom([{ name: 'inside', content: 'i' }]));
    const b = await apply(`${HEAD}COPY --exclude=*.log --exclude=secret dir/ /ex/\nCOPY --exclude=**/*.log dir/ /ex-deep/\n` +
      'COPY --exclude=*.txt dir/* /wild/\nADD --unpack=false a.tgz /packed/\nADD a.tgz /unpacked/\n', {
      context: { 'dir/keep.txt': 'k', 'dir/debug.log': 'l', 'dir/sub/deep.log': 'l', 'dir/secret/key': 's', 'a.tgz': archive },
    });
    const work = await tmpDir('cnbx-engine-cmp-');
    const t = BaseTree.open(fixture('busybox'), work).describe(b.out, { tag: 'latest', workDir: work });
    expect([...t.fs.keys()].filter((p) => /^(ex|ex-deep|wild|packed|unpacked)(\/|$)/.test(p)).sort()).toEqual([
      'ex', 'ex-deep', 'ex-deep/keep.txt', 'ex-deep/secret', 'ex-deep/secret/key', 'ex-deep/sub',
      'ex/keep.txt', 'ex/sub', 'ex/sub/deep.log',
      'packed', 'packed/a.tgz', 'unpacked', 'unpacked/inside',
      'wild', 'wild/debug.log', 'wild/deep.log', 'wild/key',
    ]);
  });

  it('ADD --checksum and --keep-git-dir are refused clearly', async () => {
    const sum = await failure(apply(`${HEAD}ADD --checksum=sha256:${'0'.repeat(64)} a.txt /a\n`, { context: { 'a.txt': 'a' } }));
    expect([sum.code, sum.line]).toEqual(['UNSUPPORTED', 4]);
    expect(sum.message).toMatch(/--checksum applies only to URL and git sources/);
    const git = await failure(apply(`${HEAD}ADD --keep-git-dir=true a.txt /a\n`, { context: { 'a.txt': 'a' } }));
    expect([git.code, git.line]).toEqual(['UNSUPPORTED', 4]);
    expect(git.message).toMatch(/--keep-git-dir applies only to git sources/);
  });

  it('an unknown USER fails at the first step that needs it, naming the user and the line', async () => {
    const e = await failure(apply(`${HEAD}USER nosuchuser\nRUN true\n`));
    expect([e.code, e.line]).toEqual(['UNKNOWN_USER', 5]);
    expect(e.message).toMatch(/nosuchuser/);
  });
});
