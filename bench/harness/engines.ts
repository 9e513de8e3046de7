// The engines under test and how each one runs a scenario: cnb-extender (overlay or scan
// snapshotter) and buildah (overlay or vfs storage driver), each cold or warm, each writing its
// result to a new OCI layout so that the work compared is the same.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resetDir, runTimed, sh, tail, type Timed } from './proc.js';
import { buildArgs, ensureContext } from './scenarios.js';
import type { BaseName, BenchOptions, EngineDef, Sample, Scenario, Trace } from './types.js';

export const ENGINES: readonly EngineDef[] = [
  { id: 'cnbx-overlay-cold', label: 'cnbx overlay cold', tool: 'cnbx', variant: 'overlay', temperature: 'cold' },
  { id: 'cnbx-overlay-warm', label: 'cnbx overlay warm', tool: 'cnbx', variant: 'overlay', temperature: 'warm' },
  { id: 'cnbx-overlay-warm-sparse', label: 'cnbx overlay warm sparse', tool: 'cnbx', variant: 'overlay', temperature: 'warm', sparse: true, onlyScenarios: ['trivial'] },
  { id: 'cnbx-scan-cold', label: 'cnbx scan cold', tool: 'cnbx', variant: 'scan', temperature: 'cold' },
  { id: 'cnbx-scan-warm', label: 'cnbx scan warm', tool: 'cnbx', variant: 'scan', temperature: 'warm' },
  { id: 'buildah-overlay-cold', label: 'buildah overlay cold', tool: 'buildah', variant: 'overlay', temperature: 'cold' },
  { id: 'buildah-overlay-warm', label: 'buildah overlay warm', tool: 'buildah', variant: 'overlay', temperature: 'warm' },
  { id: 'buildah-vfs-cold', label: 'buildah vfs cold', tool: 'buildah', variant: 'vfs', temperature: 'cold' },
  { id: 'buildah-vfs-warm', label: 'buildah vfs warm', tool: 'buildah', variant: 'vfs', temperature: 'warm' },
];

/**
 * `--engines` entries are ids or id prefixes ("cnbx", "buildah-vfs", "cnbx-overlay-warm"); a prefix
 * does not pull in the sparse variant unless it names it ("all" does).
 */
export function selectEngines(patterns: readonly string[]): EngineDef[] {
  const out = ENGINES.filter((e) => patterns.some((p) => p === 'all' || e.id === p || (e.id.startsWith(`${p}-`) && !(e.sparse && !p.includes('sparse')))));
  const unknown = patterns.filter((p) => p !== 'all' && !ENGINES.some((e) => e.id === p || e.id.startsWith(`${p}-`)));
  if (unknown.length > 0) throw new Error(`unknown engine(s) ${unknown.join(', ')}; known: ${ENGINES.map((e) => e.id).join(', ')}`);
  return out;
}

export interface RunContext {
  opts: BenchOptions;
  repoDir: string;
  logFile: string;
  tmpDir: string;
  layout(base: BaseName): string;
}

/** One engine's state on one base: its cache or store, primed once when the engine is warm. */
export abstract class EngineRunner {
  constructor(
    readonly def: EngineDef,
    protected readonly ctx: RunContext,
    protected readonly base: BaseName,
  ) {}

  protected get dir(): string {
    return join(this.ctx.opts.workDir, 'engines', this.def.id);
  }

  protected get outDir(): string {
    return join(this.ctx.opts.workDir, 'out', this.def.id);
  }

  /** Untimed: make a warm engine warm (cold engines need nothing). */
  abstract prepare(): Promise<void>;
  /** Untimed: the state every timed run starts from (empty cache for cold, no output layout). */
  abstract beforeRun(): void;
  /** Timed: build the scenario into a new OCI layout. */
  abstract run(s: Scenario): Promise<Omit<Sample, 'base' | 'scenario' | 'subject' | 'kind' | 'iteration' | 'seq' | 'startedAt'>>;
  /** Untimed: free the disk. */
  cleanup(): void {
    resetDir(this.dir, { sync: false });
    resetDir(this.outDir, { sync: false });
  }

  protected contextFor(s: Scenario): string {
    return s.context ? ensureContext(this.ctx.opts.workDir, s.context) : s.dir;
  }

  protected fail(what: string, t: Timed): never {
    throw new Error(`${this.def.id} on ${this.base}: ${what} exited ${t.exitCode}\n${tail(this.ctx.logFile)}`);
  }
}

export class CnbxRunner extends EngineRunner {
  private get cacheDir(): string {
    return join(this.dir, 'cache');
  }

  private argv(s: Scenario): string[] {
    const entry = this.ctx.opts.trace
      ? [process.execPath, join(this.ctx.repoDir, 'bench', 'harness', 'trace-apply.mjs')]
      : [process.execPath, join(this.ctx.opts.dist, 'src', 'cli', 'bin.js')];
    return [
      ...entry,
      'apply',
      '-base', `${this.ctx.layout(this.base)}:latest`,
      '-dockerfile', s.dockerfile,
      '-context', this.contextFor(s),
      '-output', `${this.outDir}:latest`,
      '-snapshotter', this.def.variant,
      '-cache-dir', this.cacheDir,
      '-kind', 'run',
      ...(this.def.sparse ? ['-sparse'] : []),
      ...buildArgs(s, this.base).flatMap(([k, v]) => ['-build-arg', `${k}=${v}`]),
    ];
  }

  private traceFile(): string {
    return join(this.ctx.tmpDir, `trace-${this.def.id}.json`);
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, CNBX_BENCH_DIST: this.ctx.opts.dist, CNBX_BENCH_TRACE: this.traceFile() };
  }

  async prepare(): Promise<void> {
    resetDir(this.dir);
    if (this.def.temperature === 'cold') return;
    // One untimed run of the trivial scenario fills the layer cache (and, for scan, the merged rootfs).
    const trivial = join(this.ctx.repoDir, 'bench', 'scenarios', 'trivial');
    const s: Scenario = { name: 'prime', title: 'prime', short: 'prime', dir: trivial, dockerfile: join(trivial, 'Dockerfile'), args: {}, notes: {}, skip: {} };
    this.beforeRun();
    const t = await runTimed(this.argv(s), { logFile: this.ctx.logFile, tmpDir: this.ctx.tmpDir, env: this.env() });
    if (t.exitCode !== 0) this.fail('priming run', t);
  }

  beforeRun(): void {
    if (this.def.temperature === 'cold') resetDir(this.cacheDir, { sync: false });
    resetDir(this.outDir);
    rmSync(this.traceFile(), { force: true });
  }

  async run(s: Scenario) {
    const t = await runTimed(this.argv(s), { logFile: this.ctx.logFile, tmpDir: this.ctx.tmpDir, env: this.env() });
    if (t.exitCode !== 0) this.fail('cnb-extender apply', t);
    checkLayout(this.outDir, this.def.id, this.def.sparse === true);
    const trace = this.ctx.opts.trace && existsSync(this.traceFile()) ? (JSON.parse(readFileSync(this.traceFile(), 'utf8')) as Trace) : undefined;
    const commits = trace?.spans.filter((sp) => sp.name.endsWith('.commitStep')).map((sp) => sp.end - sp.start) ?? [];
    return {
      wallS: t.wallS,
      userS: t.userS,
      sysS: t.sysS,
      maxRssMiB: t.maxRssMiB,
      loadavg1: t.loadavg1,
      ok: true,
      ...(trace ? { trace } : {}),
      ...(commits.length > 0 ? { extra: { commitMsMax: Math.max(...commits), commitMsTotal: commits.reduce((a, b) => a + b, 0), commits: commits.length } } : {}),
    };
  }
}

export class BuildahRunner extends EngineRunner {
  private imageId = '';

  private bh(): string[] {
    const store = join(this.dir, 'store');
    return ['buildah', '--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', this.def.variant];
  }

  async prepare(): Promise<void> {
    resetDir(this.dir);
    if (this.def.temperature === 'cold') return;
    // The base in the store: what a warm `buildah build` starts from.
    sh([...this.bh(), 'pull', '-q', `oci:${this.ctx.layout(this.base)}:latest`]);
    this.imageId = sh([...this.bh(), 'images', '-q', '--no-trunc']).trim().split('\n')[0]!.replace(/^sha256:/, '');
    if (!this.imageId) throw new Error(`${this.def.id}: no image in the store after pull`);
  }

  beforeRun(): void {
    if (this.def.temperature === 'cold') {
      resetDir(join(this.dir, 'store'), { sync: false });
    } else {
      // Drop the previous result and anything dangling, keep the base.
      sh([...this.bh(), 'rm', '--all'], { allowFail: true });
      sh([...this.bh(), 'rmi', '-f', 'bench-out'], { allowFail: true });
      sh([...this.bh(), 'rmi', '--prune'], { allowFail: true });
    }
    resetDir(this.outDir);
  }

  async run(s: Scenario) {
    const base = this.def.temperature === 'cold' ? `oci:${this.ctx.layout(this.base)}:latest` : this.imageId;
    const build = [
      ...this.bh(), 'build', '-q', '--isolation', 'chroot',
      ...(this.def.temperature === 'warm' ? ['--pull=never'] : []),
      '--build-arg', `base_image=${base}`,
      ...buildArgs(s, this.base).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
      '-f', s.dockerfile, '-t', 'bench-out', this.contextFor(s),
    ];
    const push = [...this.bh(), 'push', '-q', 'bench-out', `oci:${this.outDir}:latest`];
    const opts = { logFile: this.ctx.logFile, tmpDir: this.ctx.tmpDir };
    const b = await runTimed(build, opts);
    if (b.exitCode !== 0) this.fail('buildah build', b);
    const p = await runTimed(push, opts);
    if (p.exitCode !== 0) this.fail('buildah push', p);
    checkLayout(this.outDir, this.def.id, false);
    return {
      wallS: b.wallS + p.wallS,
      userS: b.userS + p.userS,
      sysS: b.sysS + p.sysS,
      maxRssMiB: Math.max(b.maxRssMiB, p.maxRssMiB),
      loadavg1: b.loadavg1,
      ok: true,
      parts: { build: { wallS: b.wallS, maxRssMiB: b.maxRssMiB }, push: { wallS: p.wallS, maxRssMiB: p.maxRssMiB } },
    };
  }
}

export function runnerFor(def: EngineDef, ctx: RunContext, base: BaseName): EngineRunner {
  return def.tool === 'cnbx' ? new CnbxRunner(def, ctx, base) : new BuildahRunner(def, ctx, base);
}

/** The result must be a layout with one manifest whose blobs are all there (sparse: config and the top layer). */
function checkLayout(dir: string, who: string, sparse: boolean): void {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const m = index.manifests[0];
  if (!m) throw new Error(`${who}: ${dir}/index.json lists no manifest`);
  const blob = (d: string) => join(dir, 'blobs', ...d.split(':'));
  const manifest = JSON.parse(readFileSync(blob(m.digest), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
  const layers = manifest.layers.map((l) => l.digest);
  for (const d of [manifest.config.digest, ...(sparse ? layers.slice(-1) : layers)]) {
    if (!existsSync(blob(d))) throw new Error(`${who}: ${dir} lacks blob ${d}`);
  }
}

export function ensureDir(d: string): string {
  mkdirSync(resolve(d), { recursive: true });
  return d;
}
