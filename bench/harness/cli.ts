// `npm run bench [-- options]`: see bench/README.md.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot, runBench } from './bench.js';
import { printSummary, writeReport } from './report.js';
import { summarize } from './summarize.js';
import { ALL_BASES, type BaseName, type BenchOptions, type Results } from './types.js';

const USAGE = `Usage: npm run bench -- [options]
  --runs N              runs per cell (default 3); the median, min and max are reported
  --slow-runs N         runs for buildah on debian-large, every scenario (default: --runs); its
                        ratios then pair only the iterations buildah ran in
  --bases a,b           busybox,debian,debian-large (default: all three)
  --scenarios a,b       scenario names under bench/scenarios (default: all)
  --engines a,b         engine ids or prefixes: cnbx, buildah, cnbx-overlay, buildah-vfs-cold, … (default: all)
  --no-refs             skip the references (tar -xzf, pigz | tar, materialize, pigz -6)
  --no-trace            run bin.js instead of trace-apply.mjs (no time breakdown, no snapshot figures)
  --quick               1 run on busybox and debian (smoke test in CI-like time)
  --dist DIR            compiled tree to run cnb-extender from (default bench/work/dist)
  --out DIR             where results.json, RESULTS.md and the chart go (default bench/)
  --work DIR            scratch space (default bench/work/run)
  --merge               add this run to DIR/results.json as a new batch (ratios pair within a
                        batch) instead of replacing the file: run a matrix in several invocations
  --no-report           write results.json only
  --report-only         re-render RESULTS.md, the chart and the summary from DIR/results.json
`;

export function parseOptions(argv: readonly string[], log: (l: string) => void): BenchOptions & { reportOnly: boolean } {
  const repo = repoRoot();
  const o: BenchOptions & { reportOnly: boolean } = {
    runs: 3,
    slowRuns: NaN,
    bases: [...ALL_BASES],
    scenarios: ['all'],
    engines: ['all'],
    refs: true,
    quick: false,
    trace: true,
    dist: join(repo, 'bench', 'work', 'dist'),
    outDir: join(repo, 'bench'),
    workDir: join(repo, 'bench', 'work', 'run'),
    fixturesDir: process.env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures',
    report: true,
    reportOnly: false,
    log,
  };
  let basesSet = false;
  let runsSet = false;
  const list = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--runs': o.runs = Number(val()); runsSet = true; break;
      case '--slow-runs': o.slowRuns = Number(val()); break;
      case '--bases': o.bases = list(val()) as BaseName[]; basesSet = true; break;
      case '--scenarios': o.scenarios = list(val()); break;
      case '--engines': o.engines = list(val()); break;
      case '--no-refs': o.refs = false; break;
      case '--no-trace': o.trace = false; break;
      case '--quick': o.quick = true; break;
      case '--dist': o.dist = resolve(val()); break;
      case '--out': o.outDir = resolve(val()); break;
      case '--work': o.workDir = resolve(val()); break;
      case '--no-report': o.report = false; break;
      case '--merge': o.merge = true; break;
      case '--report-only': o.reportOnly = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (o.quick) {
    if (!runsSet) o.runs = 1;
    if (!basesSet) o.bases = ['busybox', 'debian'];
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
  if (Number.isNaN(o.slowRuns)) o.slowRuns = o.runs;
  for (const b of o.bases) if (!ALL_BASES.includes(b)) throw new Error(`unknown base ${b}; known: ${ALL_BASES.join(', ')}`);
  return o;
}

async function main(): Promise<void> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const opts = parseOptions(process.argv.slice(2), log);
  if (process.getuid?.() !== 0 && !opts.reportOnly) throw new Error('the bench needs root (mounts, chroot, buildah storage)');
  let results: Results;
  if (opts.reportOnly) {
    results = JSON.parse(readFileSync(join(opts.outDir, 'results.json'), 'utf8')) as Results;
    results.summary = summarize(results.samples, results.engines);
    writeReport(results, opts.outDir, repoRoot());
  } else {
    results = await runBench(opts);
  }
  printSummary(results, (l) => process.stdout.write(`${l}\n`));
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
