// The benchmark run: for each base, every iteration measures the references and then every
// selected scenario with every selected engine, the engines' order rotated per iteration, so that
// the things compared ran minutes apart on the same machine state (A B A B …).
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINES, ensureDir, runnerFor, selectEngines, type EngineRunner, type RunContext } from './engines.js';
import { describeMachine } from './machine.js';
import { baseFacts, runReference } from './references.js';
import { ensureContext, loadScenarios, SCENARIO_ORDER } from './scenarios.js';
import { fmtS } from './stats.js';
import { summarize } from './summarize.js';
import { writeReport } from './report.js';
import { ALL_BASES, type BaseName, type BatchInfo, type BenchOptions, type ReferenceId, type Results, type Sample, type Scenario } from './types.js';

/** The repository root: the first parent of this file that holds bench/scenarios. */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, 'bench', 'scenarios')) && existsSync(join(d, 'package.json'))) return d;
    const up = dirname(d);
    if (up === d) throw new Error('cannot find the repository root (bench/scenarios) above the harness');
    d = up;
  }
}

const BASE_REFS: ReferenceId[] = ['tar-xzf', 'pigz-tar', 'cnbx-materialize'];

/** The slowest cells: buildah on the large base (1–3 minutes a run, most of it `buildah push`). */
function isSlow(base: BaseName, engineId: string): boolean {
  return base === 'debian-large' && engineId.startsWith('buildah-');
}

/**
 * The batches already in <outDir>/results.json, for `--merge`. A file written before batches
 * existed becomes batch 0, described from its own top-level fields.
 */
function previousRun(outDir: string): { prev: Results; batches: BatchInfo[] } | null {
  const file = join(outDir, 'results.json');
  if (!existsSync(file)) return null;
  const prev = JSON.parse(readFileSync(file, 'utf8')) as Results;
  if (prev.schema !== 1) throw new Error(`${file}: schema ${String(prev.schema)}, expected 1: cannot merge into it`);
  const batches = prev.batches ?? [batchInfo(0, prev)];
  return { prev, batches };
}

function batchInfo(batch: number, r: Pick<Results, 'startedAt' | 'finishedAt' | 'options' | 'machine' | 'engines' | 'bases' | 'scenarios'>): BatchInfo {
  return {
    batch,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    bases: r.bases.map((b) => b.name),
    scenarios: r.scenarios.map((s) => s.name),
    engines: r.engines.map((e) => e.id),
    runs: r.options.runs,
    slowRuns: r.options.slowRuns,
    refs: r.options.refs,
    gitCommit: r.machine.gitCommit,
    tree: r.machine.tree,
    gitDirty: r.machine.gitDirty,
    loadavgStart: r.machine.loadavgStart,
    ...(r.machine.loadavgEnd ? { loadavgEnd: r.machine.loadavgEnd } : {}),
  };
}

/** Union of two lists, in the order `order` gives (unknown names last, in their first order). */
function unionOrdered<T>(a: readonly T[], b: readonly T[], order: readonly T[], same: (x: T, y: T) => boolean = (x, y) => x === y): T[] {
  const out: T[] = [];
  for (const x of [...a, ...b]) if (!out.some((y) => same(x, y))) out.push(x);
  const rank = (x: T) => {
    const i = order.findIndex((y) => same(x, y));
    return i < 0 ? order.length : i;
  };
  return out.map((x, i) => [x, i] as const).sort((p, q) => rank(p[0]) - rank(q[0]) || p[1] - q[1]).map(([x]) => x);
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = xs.length === 0 ? 0 : by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

export function ensureFixture(fixturesDir: string, repoDir: string, base: BaseName): string {
  const dir = join(fixturesDir, base);
  if (!existsSync(join(dir, 'index.json'))) {
    execFileSync('bash', [join(repoDir, 'fixtures', 'make-fixtures.sh'), base], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CNBX_FIXTURES: fixturesDir } });
  }
  return dir;
}

export async function runBench(opts: BenchOptions): Promise<Results> {
  const repoDir = repoRoot();
  const startedAt = new Date().toISOString();
  ensureDir(opts.workDir);
  ensureDir(opts.outDir);
  const tmpDir = ensureDir(join(opts.workDir, 'tmp'));
  const logFile = join(opts.workDir, 'bench.log');
  writeFileSync(logFile, `# bench started ${startedAt}\n`);
  // snapshot/native.js looks for native/build one or two levels above itself: make the private
  // compiled tree find the repository's native build.
  const distParent = dirname(resolve(opts.dist));
  if (resolve(opts.dist) !== join(repoDir, 'dist') && !existsSync(join(distParent, 'native'))) {
    execFileSync('ln', ['-sfn', join(repoDir, 'native'), join(distParent, 'native')]);
  }

  const all = loadScenarios(join(repoDir, 'bench', 'scenarios'));
  const unknown = opts.scenarios.filter((s) => s !== 'all' && !all.some((x) => x.name === s));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  const scenarios = all.filter((s) => opts.scenarios.includes('all') || opts.scenarios.includes(s.name));
  const engines = selectEngines(opts.engines);
  const machine = describeMachine(opts.workDir, repoDir);
  opts.log(`machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB, ${machine.kernel}, ${machine.workFs.split(' ')[0]}; load ${machine.loadavgStart.join(' ')}`);

  const layouts = new Map<BaseName, string>();
  for (const b of opts.bases) layouts.set(b, ensureFixture(opts.fixturesDir, repoDir, b));
  for (const s of scenarios) if (s.context) ensureContext(opts.workDir, s.context);
  const ctx: RunContext = { opts, repoDir, logFile, tmpDir, layout: (b) => layouts.get(b)! };

  const merged = opts.merge ? previousRun(opts.outDir) : null;
  const batch = merged ? Math.max(...merged.batches.map((b) => b.batch)) + 1 : 0;
  if (merged) {
    const commits = new Set(merged.batches.map((b) => b.gitCommit));
    opts.log(`merging into ${join(opts.outDir, 'results.json')} as batch ${batch} (${merged.prev.samples.length} earlier samples${commits.has(machine.gitCommit) && commits.size === 1 ? '' : `; WARNING: earlier batches measured ${[...commits].map((c) => c.slice(0, 12)).join(', ')}, this one ${machine.gitCommit.slice(0, 12)}`})`);
  }
  const samples: Sample[] = [];
  const rawFile = join(opts.workDir, 'samples.jsonl');
  writeFileSync(rawFile, '');
  let seq = 0;
  const record = (s: Omit<Sample, 'seq' | 'startedAt'>, startedAt: string) => {
    const full: Sample = { ...s, batch, seq: seq++, startedAt };
    samples.push(full);
    appendFileSync(rawFile, `${JSON.stringify(full)}\n`);
    const what = s.scenario ? `${s.scenario} ${s.subject}` : s.subject;
    const rss = Number.isFinite(s.maxRssMiB) ? ` ${(s.maxRssMiB * 1.048576).toFixed(0)} MB` : '';
    opts.log(`  [${s.base} ${s.iteration + 1}] ${what.padEnd(40)} ${s.ok ? `${fmtS(s.wallS).padStart(8)}${rss}` : `FAILED: ${s.error?.split('\n')[0]}`}`);
  };
  const results = (): Results => {
    const mine: Results = {
      schema: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      options: { ...opts, log: undefined } as unknown as Results['options'],
      machine: { ...machine, loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      // Small to large in the report and the chart, whatever order they ran in.
      bases: [...opts.bases].sort((a, b) => ALL_BASES.indexOf(a) - ALL_BASES.indexOf(b)).map((b) => ({ name: b, layout: layouts.get(b)!, ...baseFacts(layouts.get(b)!) })),
      scenarios: scenarios.map(({ name, title, short, notes, skip }) => ({ name, title, short, notes, skip })),
      engines,
      samples,
      summary: { cells: [], targets: [] },
    };
    mine.batches = [...(merged?.batches ?? []), batchInfo(batch, mine)];
    if (merged) {
      // The union of what every batch measured; top-level startedAt and machine describe the
      // whole file (first start, this machine), each batch keeps its own times, commit and load.
      const p = merged.prev;
      mine.startedAt = merged.batches[0]?.startedAt ?? p.startedAt;
      mine.machine = { ...mine.machine, loadavgStart: merged.batches[0]?.loadavgStart ?? p.machine.loadavgStart };
      mine.bases = unionOrdered(p.bases, mine.bases, ALL_BASES.map((name) => ({ name, layers: 0, compressedBytes: 0, layout: '' })), (x, y) => x.name === y.name);
      mine.scenarios = unionOrdered(p.scenarios, mine.scenarios, SCENARIO_ORDER.map((name) => ({ name, title: '', short: '', notes: {}, skip: {} })), (x, y) => x.name === y.name);
      mine.engines = unionOrdered(p.engines, mine.engines, ENGINES, (x, y) => x.id === y.id);
      mine.samples = [...p.samples.map((x) => ({ ...x, batch: x.batch ?? 0 })), ...samples];
    }
    mine.summary = summarize(mine.samples, mine.engines);
    return mine;
  };
  const save = (r: Results) => {
    const file = join(opts.outDir, 'results.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(r, null, 1)}\n`);
    renameSync(`${file}.tmp`, file);
  };

  for (const base of opts.bases) {
    opts.log(`${base}: preparing ${engines.length} engine(s)`);
    const runners: EngineRunner[] = engines.map((e) => runnerFor(e, ctx, base));
    for (const r of runners) await r.prepare();
    const wanted = scenarios.filter((s) => !s.skip[base]);
    try {
      for (let it = 0; it < opts.runs; it++) {
        if (opts.refs) {
          for (const id of rotate(BASE_REFS, it)) {
            const t = new Date().toISOString();
            try {
              record({ base, scenario: null, subject: id, kind: 'reference', iteration: it, ...(await runReference(id, base, ctx)) }, t);
            } catch (e) {
              record(failed(base, null, id, 'reference', it, e), t);
            }
          }
        }
        for (const s of wanted) {
          if (opts.refs && s.changedBytes) {
            const t = new Date().toISOString();
            try {
              record({ base, scenario: s.name, subject: 'pigz-6', kind: 'reference', iteration: it, ...(await runReference('pigz-6', base, ctx)) }, t);
            } catch (e) {
              record(failed(base, s.name, 'pigz-6', 'reference', it, e), t);
            }
          }
          for (const r of rotate(runners, it)) {
            if (it >= opts.slowRuns && isSlow(base, r.def.id)) continue;
            if (r.def.onlyScenarios && !r.def.onlyScenarios.includes(s.name)) continue;
            await runOne(r, s, base, it, record);
          }
        }
        save(results());
      }
    } finally {
      for (const r of runners) r.cleanup();
    }
  }
  const r = results();
  save(r);
  if (opts.report) writeReport(r, opts.outDir, repoDir);
  return r;
}

async function runOne(r: EngineRunner, s: Scenario, base: BaseName, it: number, record: (s: Omit<Sample, 'seq' | 'startedAt'>, t: string) => void): Promise<void> {
  const t = new Date().toISOString();
  try {
    r.beforeRun();
    record({ base, scenario: s.name, subject: r.def.id, kind: 'engine', iteration: it, ...(await r.run(s)) }, t);
  } catch (e) {
    record(failed(base, s.name, r.def.id, 'engine', it, e), t);
  }
}

function failed(base: BaseName, scenario: string | null, subject: string, kind: Sample['kind'], iteration: number, e: unknown): Omit<Sample, 'seq' | 'startedAt'> {
  return { base, scenario, subject, kind, iteration, wallS: NaN, userS: NaN, sysS: NaN, maxRssMiB: NaN, loadavg1: loadavg()[0] ?? 0, ok: false, error: (e as Error).message ?? String(e) };
}


