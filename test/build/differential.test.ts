// Differential test: every case of fixtures/dockerfiles/differential/ is applied to the busybox
// and Debian fixtures by our engine (runApply, what `cnb-extender apply` runs) and by
// `buildah build --isolation chroot`; the final filesystems and configs must be the same, except
// for the differences listed in EXPECTED (each one on purpose, see
// docs/design/differences-from-docker.md, or a limitation of the buildah version used as oracle).
//
// Case layout: <case>/Dockerfile, <case>/context/ (copied to a temp dir, then <case>/prepare.sh
// runs in the copy for what git cannot store: modes, empty dirs, archives), optional
// <case>/build-args (NAME=VALUE lines, given to both), optional <case>/buildah.Dockerfile (the
// same steps for buildah 1.28, which has no here-doc support).
//
// buildah: one private store per base (--root/--runroot in the temp dir, overlay driver), the base
// pulled once from the OCI layout and tagged; `FROM ${base_image}` gets that tag. The result is
// pushed with `buildah push -D <img> dir:<d>`: `oci:` would recompress the whole base (buildah 1.28
// ignores -D there, ~10 s for Debian) and convert the config to OCI, dropping Healthcheck,
// OnBuild and Shell; `dir:` keeps the Docker config and writes uncompressed layers. umoci then
// unpacks both results (test/helpers/compare-layouts.ts).
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runApply } from '../../src/cli/apply.js';
import { silentLogger } from '../../src/log.js';
import { BaseTree, changedPaths, compareSummaries, summarizeConfig, type ImageSummary } from '../helpers/compare-layouts.js';
import { fixture, hasCommand, isRoot, type FixtureName } from '../helpers/fixtures.js';

const run = promisify(execFile);
const CASES_DIR = resolve(import.meta.dirname, '../../fixtures/dockerfiles/differential');
const CASES = readdirSync(CASES_DIR).filter((n) => existsSync(join(CASES_DIR, n, 'Dockerfile'))).sort();
const BASES: FixtureName[] = ['busybox', 'debian'];

/**
 * Paths buildah's chroot isolation leaves in its RUN layers: placeholders for the files it binds,
 * its /run/.containerenv, and the /dev, /proc, /sys mount points it creates in a base that lacks
 * them (BuildKit removes such mount stubs after the RUN, as we do). buildah's entries there are
 * replaced by the base's, so ours must equal the base at these paths.
 */
const BUILDAH_PLACEHOLDERS = /^(etc\/(hosts|hostname|resolv\.conf)|run(\/\.containerenv)?|dev|proc|sys)$/;
const BUILDAH_LABELS = ['io.buildah.version'];

/**
 * The differences that are expected, per case and base ('*' = both): exact lines of
 * compareSummaries (ours on the left, buildah on the right).
 */
const EXPECTED: Record<string, Partial<Record<FixtureName | '*', string[]>>> = {
  // ADD --chown applies to what an archive holds (current BuildKit: ownerMapper lets --chown
  // override the headers); buildah keeps the archive's owners (as BuildKit before v0.13 did).
  'add-archive': {
    '*': [
      'fs opt/owned/pkg/bin/link: symlink 0777 1000:1000 -> ../file ≠ symlink 0777 1234:5678 -> ../file',
      'fs opt/owned/pkg/bin/tool: file 4755 1000:1000 10B a8076d3d28d2 ≠ file 4755 1234:5678 10B a8076d3d28d2',
      'fs opt/owned/pkg/bin: dir 0755 1000:1000 ≠ dir 0755 1234:5678',
      'fs opt/owned/pkg/file: file 0644 1000:1000 14B 9f0fdc42f11b ≠ file 0644 1234:5678 14B 9f0fdc42f11b',
      'fs opt/owned/pkg/hardlink: file 0644 1000:1000 14B 9f0fdc42f11b ≠ file 0644 1234:5678 14B 9f0fdc42f11b',
      'fs opt/owned/pkg/share/empty: dir 0755 1000:1000 ≠ dir 0755 1234:5678',
      'fs opt/owned/pkg/share: dir 0700 1000:1000 ≠ dir 0700 1234:5678',
      'fs opt/owned/pkg: dir 0755 1000:1000 ≠ dir 0755 1234:5678',
    ],
  },
  // Docker expands a port range into one entry per port (nat.ParsePortSpecs); buildah keeps the range.
  'config-meta': {
    '*': ['config ExposedPorts: {"53/udp":{},"80/tcp":{},"8080/tcp":{},"9000/tcp":{},"9001/tcp":{},"9002/tcp":{}} ≠ {"53/udp":{},"80/tcp":{},"8080/tcp":{},"9000-9002/tcp":{}}'],
  },
  // ENV of an existing variable replaces it in place (BuildKit's addEnv); buildah moves it to the end.
  'env-arg': {
    '*': ['config Env: ["PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","CNB_USER_ID=1000","CNB_GROUP_ID=1000","SHADOWED=from-env","A=1","B=two words","C=default-value","LEGACY=legacy form with spaces","D=given","E=set","F=","G=1two words","H=late-default-env"] ≠ ' +
      '["CNB_USER_ID=1000","CNB_GROUP_ID=1000","SHADOWED=from-env","A=1","B=two words","C=default-value","LEGACY=legacy form with spaces","D=given","E=set","F=","G=1two words","PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","H=late-default-env"]'],
  },
  // With `# escape=\``, a backslash is an ordinary character in Docker; buildah still treats it as
  // an escape in ENV values (as kaniko does).
  escape: {
    '*': ['config Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","CNB_USER_ID=1000","CNB_GROUP_ID=1000","WINPATH=C:\\\\Windows","OTHER=x"] ≠ ' +
      '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","CNB_USER_ID=1000","CNB_GROUP_ID=1000","WINPATH=C:Windows","OTHER=x"]'],
  },
  // COPY keeps the setuid bit of a context file (Docker: fsutil copies the whole mode); buildah drops it.
  modes: {
    '*': ['fs modes/copied-suid: file 4750 0:0 10B a8076d3d28d2 ≠ file 0750 0:0 10B a8076d3d28d2'],
  },
  // A shell-form CMD runs through the SHELL in force (Docker); buildah always uses /bin/sh -c.
  shell: {
    '*': ['config Cmd: ["/bin/sh","-e","-c","echo shell form cmd"] ≠ ["/bin/sh","-c","echo shell form cmd"]'],
  },
  // Supplementary groups are the user's memberships in /etc/group only (BuildKit/runc GetExecUser:
  // none for cnb, so busybox's `id` prints no groups=); buildah adds the primary group.
  user: {
    busybox: ['fs out/id-by-name: file 0644 1000:1000 28B b6fde3ce109e ≠ file 0644 1000:1000 45B 34bf8361c369'],
  },
};

/** Fast scratch space: the buildah store and unpacked trees are I/O heavy. */
function scratchRoot(): string {
  const shm = '/dev/shm';
  return process.env.CNBX_TEST_TMP ?? (existsSync(shm) ? shm : tmpdir());
}

function buildArgsOf(caseDir: string): Array<[string, string]> {
  const file = join(caseDir, 'build-args');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => {
    const eq = l.indexOf('=');
    return [l.slice(0, eq), l.slice(eq + 1)] as [string, string];
  });
}

function expectedFor(name: string, base: FixtureName): string[] {
  const e = EXPECTED[name] ?? {};
  return [...(e['*'] ?? []), ...(e[base] ?? [])].sort();
}

function unmountBelow(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) execFileSync('umount', ['-l', m]);
}

const ready = isRoot && hasCommand('buildah') && hasCommand('umoci') && hasCommand('getfattr');

describe.skipIf(!ready).each(BASES)('differential: our engine vs buildah on %s', (baseName) => {
  let work: string;
  let layout: string;
  let base: BaseTree;
  let buildah: (...args: string[]) => Promise<{ stdout: string; stderr: string }>;
  const baseTag = `cnbx-base-${baseName}`;

  beforeAll(async () => {
    work = mkdtempSync(join(scratchRoot(), `cnbx-diff-${baseName}-`));
    layout = fixture(baseName);
    base = BaseTree.open(layout, work);
    const store = ['--root', join(work, 'buildah', 'root'), '--runroot', join(work, 'buildah', 'run'), '--storage-driver', 'overlay'];
    buildah = (...args: string[]) => run('buildah', [...store, ...args], { maxBuffer: 1 << 26 });
    const { stdout } = await buildah('pull', '-q', `oci:${layout}:latest`);
    await buildah('tag', stdout.trim(), baseTag);
  });

  afterAll(async () => {
    if (!work) return;
    await buildah('rm', '--all').catch(() => {});
    await buildah('rmi', '--all', '--force').catch(() => {});
    unmountBelow(work);
    rmSync(work, { recursive: true, force: true });
  });

  // Cases run concurrently (vitest's maxConcurrency): buildah waits between its steps, so this
  // overlaps our builds with its; separate buildah stores per case were measured slower.
  // The timeout is generous: concurrent cases share two cores, so one case's wall time includes the others'.
  it.concurrent.for(CASES)('%s', { timeout: 600_000 }, async (name, { expect }) => {
    const caseDir = join(CASES_DIR, name);
    const ctx = join(work, `ctx-${name}`);
    if (existsSync(join(caseDir, 'context'))) cpSync(join(caseDir, 'context'), ctx, { recursive: true, verbatimSymlinks: true });
    else mkdirSync(ctx);
    if (existsSync(join(caseDir, 'prepare.sh'))) execFileSync('sh', ['-e', join(caseDir, 'prepare.sh')], { cwd: ctx });
    const args = buildArgsOf(caseDir);
    const dockerfile = join(caseDir, 'Dockerfile');
    const theirsDockerfile = existsSync(join(caseDir, 'buildah.Dockerfile')) ? join(caseDir, 'buildah.Dockerfile') : dockerfile;
    const oursLayout = join(work, `ours-${name}`);
    const theirsDir = join(work, `buildah-${name}`);

    const ours = runApply(
      {
        base: `${layout}:latest`,
        dockerfile,
        context: ctx,
        buildArgs: args,
        output: `${oursLayout}:${name}`,
        sparse: true,
        snapshotter: 'auto',
        kind: 'build',
        cacheDir: join(work, 'ours-cache'),
      },
      silentLogger,
    );
    const theirs = (async () => {
      await buildah('build', '--format', 'docker', '--isolation', 'chroot', '--pull-never', '-q',
        '--build-arg', `base_image=${baseTag}`, ...args.flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
        '-f', theirsDockerfile, '-t', `case-${name}`, ctx);
      await buildah('push', '-q', '-D', `case-${name}`, `dir:${theirsDir}`);
    })();
    const t0 = performance.now();
    const timed = <T,>(p: Promise<T>) => p.then((v) => ({ v, ms: Math.round(performance.now() - t0) }));
    const [o, t] = await Promise.all([timed(ours), timed(theirs)]);
    if (process.env.CNBX_DIFF_TIMES) console.log(`${baseName}/${name}: ours ${o.ms} ms, buildah ${t.ms} ms`);
    const t1 = performance.now();

    const a: ImageSummary = base.describe(oursLayout, { tag: name, workDir: work });
    const b: ImageSummary = base.describe(theirsDir, { workDir: work, ignoreLabels: BUILDAH_LABELS });
    const diffs = compareSummaries(a, b, { ignoreInB: BUILDAH_PLACEHOLDERS, base: base.fs });
    if (process.env.CNBX_DIFF_TIMES) console.log(`${baseName}/${name}: describe ${Math.round(performance.now() - t1)} ms`);
    // Every case must change something, or it would compare nothing.
    const changed = changedPaths(a, base.fs).length + compareSummaries(a, { ...a, config: summarizeConfig(base.config) }).length;
    expect(changed, `${name} changed nothing`).toBeGreaterThan(0);
    expect(diffs.sort(), `ours changed:\n${changedPaths(a, base.fs).join('\n')}`).toEqual(expectedFor(name, baseName));
    rmSync(ctx, { recursive: true, force: true });
    rmSync(theirsDir, { recursive: true, force: true });
  });
});
