// From raw samples to cells (median, min, max per base × scenario × engine), pairwise ratios
// within iterations, and the issue's targets with where each stands.
import { fmtRatio, fmtS, fmtStat, pairwise, stat } from './stats.js';
import type { BaseName, Cell, EngineDef, Sample, Stat, Summary, TargetResult } from './types.js';

type Key = string;
const key = (base: string, scenario: string | null, subject: string): Key => `${base}|${scenario ?? '-'}|${subject}`;

/**
 * Wall time (or `f`) of one cell's successful samples by batch and iteration: the pairing key of
 * the ratios (iteration 0 of two merged batches are different machine states).
 */
function byIteration(samples: readonly Sample[], f: (s: Sample) => number | undefined = (s) => s.wallS): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of samples) {
    const v = f(s);
    if (s.ok && v !== undefined && Number.isFinite(v)) m.set(`${s.batch ?? 0}/${s.iteration}`, v);
  }
  return m;
}

export function summarize(samples: readonly Sample[], engines: readonly EngineDef[]): Summary {
  const groups = new Map<Key, Sample[]>();
  for (const s of samples) {
    const k = key(s.base, s.scenario, s.subject);
    const g = groups.get(k);
    if (g) g.push(s);
    else groups.set(k, [s]);
  }
  const get = (base: string, scenario: string | null, subject: string) => groups.get(key(base, scenario, subject)) ?? [];
  const cells: Cell[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    const ok = g.filter((s) => s.ok);
    const cell: Cell = {
      base: first.base,
      scenario: first.scenario,
      subject: first.subject,
      wall: stat(ok.map((s) => s.wallS)),
      cpu: stat(ok.map((s) => s.userS + s.sysS)),
      rssMiB: stat(ok.map((s) => s.maxRssMiB)),
      failures: g.length - ok.length,
      ratios: {},
    };
    const mine = byIteration(g);
    const tar = byIteration(get(first.base, null, 'tar-xzf'));
    const engine = engines.find((e) => e.id === first.subject);
    if (engine?.tool === 'cnbx') {
      // A sparse output is less work than buildah's full layout: no speedup figure for it.
      for (const drv of engine.sparse ? [] : ['overlay', 'vfs']) {
        const peer = byIteration(get(first.base, first.scenario, `buildah-${drv}-${engine.temperature}`));
        const r = pairwise(peer, mine);
        if (r.n > 0) cell.ratios[`speedup vs buildah-${drv}-${engine.temperature}`] = r;
      }
      const commits = ok.map((s) => s.extra?.commitMsMax).filter((x): x is number => x !== undefined);
      if (commits.length > 0) cell.commitMs = stat(commits);
      if (first.scenario === 'write-200mb') {
        const pigz = byIteration(get(first.base, first.scenario, 'pigz-6'));
        const commitS = byIteration(g, (s) => (s.extra?.commitMsMax !== undefined ? s.extra.commitMsMax / 1000 : undefined));
        const r = pairwise(pigz, commitS);
        if (r.n > 0) cell.ratios['snapshot throughput / pigz -6'] = r;
      }
    }
    if ((engine?.temperature === 'cold' || first.subject === 'cnbx-materialize' || first.subject === 'pigz-tar') && first.subject !== 'tar-xzf') {
      const r = pairwise(mine, tar);
      if (r.n > 0) cell.ratios['/ tar -xzf'] = r;
    }
    if (first.subject === 'cnbx-materialize') {
      const r = pairwise(mine, byIteration(get(first.base, null, 'pigz-tar')));
      if (r.n > 0) cell.ratios['/ pigz-tar'] = r;
    }
    cells.push(cell);
  }
  return { cells, targets: evaluateTargets(cells) };
}

export function findCell(cells: readonly Cell[], base: string, scenario: string | null, subject: string): Cell | undefined {
  return cells.find((c) => c.base === base && c.scenario === scenario && c.subject === subject);
}

const SMALL: BaseName[] = ['busybox', 'debian'];

const pct = (x: number) => `${Math.round(Math.abs(x) * 100)} %`;

/** How `value` stands against an upper limit: the margin to spare, or how far over it is. */
function atMost(value: number, limit: number, f: (x: number) => string): string {
  return value <= limit
    ? `${f(value)} against ≤ ${f(limit)}: ${pct((limit - value) / limit)} to spare`
    : `${f(value)} against ≤ ${f(limit)}: over by ${pct(value / limit - 1)}`;
}

/** How `value` stands against a lower bound. */
function atLeast(value: number, limit: number, f: (x: number) => string): string {
  return value >= limit
    ? `${f(value)} against ≥ ${f(limit)}: ${pct(value / limit - 1)} above`
    : `${f(value)} against ≥ ${f(limit)}: short by ${pct(1 - value / limit)}`;
}

function evaluateTargets(cells: readonly Cell[]): TargetResult[] {
  const out: TargetResult[] = [];
  const cell = (b: string, s: string | null, e: string) => findCell(cells, b, s, e);
  const notMeasured = (id: string, text: string, why: string): TargetResult => ({ id, text, status: 'not measured', figure: '–', reason: why });

  // 1. Cold trivial extend of the large base vs tar -x and vs buildah overlay.
  {
    const text = 'Cold trivial extend of debian-large within 1.3× of tar -xzf of its layers';
    const c = cell('debian-large', 'trivial', 'cnbx-overlay-cold');
    const r = c?.ratios['/ tar -xzf'];
    out.push(r && r.n > 0
      ? { id: 'cold-vs-tar', text, status: r.median <= 1.3 ? 'met' : 'missed', figure: `${fmtStat(r, fmtRatio)} of tar, pair by pair (overlay median ${fmtS(c!.wall.median)}, tar median ${fmtS(cell('debian-large', null, 'tar-xzf')?.wall.median ?? NaN)}; n=${r.n})`, margin: atMost(r.median, 1.3, fmtRatio) }
      : notMeasured('cold-vs-tar', text, 'needs debian-large, trivial, cnbx-overlay-cold and the tar reference'));
  }
  {
    const text = 'Cold trivial extend of debian-large at least 3× faster than buildah (overlay driver)';
    const c = cell('debian-large', 'trivial', 'cnbx-overlay-cold');
    const r = c?.ratios['speedup vs buildah-overlay-cold'];
    out.push(r && r.n > 0
      ? { id: 'cold-vs-buildah', text, status: r.median >= 3 ? 'met' : 'missed', figure: `${fmtStat(r, fmtRatio)} faster (n=${r.n} pairs)`, margin: atLeast(r.median, 3, fmtRatio) }
      : notMeasured('cold-vs-buildah', text, 'needs debian-large, trivial, cnbx-overlay-cold and buildah-overlay-cold'));
  }
  // 2. Warm trivial extend under 1 s, the same on small and large bases.
  {
    const text = 'Warm trivial extend under 1 s on every base, and the same on small and large (large ≤ 1.2× small)';
    const per = (['busybox', 'debian', 'debian-large'] as const).map((b) => [b, cell(b, 'trivial', 'cnbx-overlay-warm')] as const).filter(([, c]) => c && c.wall.n > 0);
    if (per.length === 0) out.push(notMeasured('warm-trivial', text, 'needs cnbx-overlay-warm on trivial'));
    else {
      const under = per.every(([, c]) => c!.wall.median < 1);
      const small = per.find(([b]) => b === 'busybox')?.[1] ?? per.find(([b]) => b === 'debian')?.[1];
      const large = per.find(([b]) => b === 'debian-large')?.[1];
      const growth = small && large ? large.wall.median / small.wall.median : NaN;
      const flat = Number.isFinite(growth) ? growth <= 1.2 : true;
      const slowest = per.reduce((a, b) => (b[1]!.wall.median > a[1]!.wall.median ? b : a));
      const sparse = (['busybox', 'debian', 'debian-large'] as const).map((b) => [b, cell(b, 'trivial', 'cnbx-overlay-warm-sparse')] as const).filter(([, c]) => c && c.wall.n > 0);
      out.push({
        id: 'warm-trivial',
        text,
        status: under && flat ? 'met' : 'missed',
        figure: per.map(([b, c]) => `${b} ${fmtS(c!.wall.median)}`).join(', ') + (Number.isFinite(growth) ? `; large/small ${fmtRatio(growth)}` : '') +
          (sparse.length > 0 ? ` (sparse output, as the lifecycle writes: ${sparse.map(([b, c]) => `${b} ${fmtS(c!.wall.median)}`).join(', ')})` : ''),
        margin: `slowest (${slowest[0]}) ${atMost(slowest[1]!.wall.median, 1, fmtS)}` +
          (Number.isFinite(growth) ? `; large/small ${atMost(growth, 1.2, fmtRatio)}` : '; large/small not measured (needs busybox or debian, and debian-large)'),
      });
    }
  }
  // 3. 200 MB RUN snapshot throughput vs pigz.
  {
    const text = '200 MB RUN: snapshot throughput at least 0.8× of pigz -6 on all cores';
    const rows = (['debian-large', 'debian', 'busybox'] as const)
      .map((b) => [b, cell(b, 'write-200mb', 'cnbx-overlay-warm')] as const)
      .filter(([, c]) => c?.ratios['snapshot throughput / pigz -6']);
    if (rows.length === 0) out.push(notMeasured('throughput', text, 'needs write-200mb with cnbx-overlay-warm (traced) and the pigz reference'));
    else {
      const worst = Math.min(...rows.map(([, c]) => c!.ratios['snapshot throughput / pigz -6']!.median));
      out.push({
        id: 'throughput',
        text,
        status: worst >= 0.8 ? 'met' : 'missed',
        figure: rows.map(([b, c]) => `${b} ${fmtRatio(c!.ratios['snapshot throughput / pigz -6']!.median)} (commit ${fmtS(c!.commitMs!.median / 1000)})`).join(', '),
        margin: `worst ${atLeast(worst, 0.8, fmtRatio)}`,
      });
    }
  }
  // 4. Peak RSS.
  {
    const text = 'Peak RSS under 250 MB in every scenario (cnbx, any process of the run)';
    const ours = cells.filter((c) => c.subject.startsWith('cnbx-') && c.subject !== 'cnbx-materialize' && c.rssMiB.n > 0);
    if (ours.length === 0) out.push(notMeasured('rss', text, 'no cnbx runs'));
    else {
      const worst = ours.reduce((a, b) => (b.rssMiB.max > a.rssMiB.max ? b : a));
      const mb = (mib: number) => (mib * 1.048576).toFixed(0);
      out.push({
        id: 'rss',
        text,
        status: worst.rssMiB.max * 1.048576 < 250 ? 'met' : 'missed',
        figure: `worst ${mb(worst.rssMiB.max)} MB (${worst.base}, ${worst.scenario}, ${worst.subject})`,
        margin: atMost(worst.rssMiB.max * 1.048576, 250, (x) => `${x.toFixed(0)} MB`),
      });
    }
  }
  // 5. Materialize (cold) vs tar.
  {
    const text = 'Materialize of debian-large (cold layer cache) within 1.3× of tar -xzf';
    const c = cell('debian-large', null, 'cnbx-materialize');
    const r = c?.ratios['/ tar -xzf'];
    out.push(r && r.n > 0
      ? { id: 'materialize', text, status: r.median <= 1.3 ? 'met' : 'missed', figure: `${fmtStat(r, fmtRatio)} of tar (${fmtS(c!.wall.median)})`, margin: atMost(r.median, 1.3, fmtRatio) }
      : notMeasured('materialize', text, 'needs debian-large and the references'));
  }
  // 6. Overlay snapshot of a one-file change.
  {
    const text = 'Overlay snapshot (commitStep) of the trivial change under 50 ms, the same on small and large';
    const rows = (['busybox', 'debian', 'debian-large'] as const).map((b) => [b, cell(b, 'trivial', 'cnbx-overlay-warm')?.commitMs] as const).filter(([, s]) => s && s.n > 0) as Array<readonly [BaseName, Stat]>;
    if (rows.length === 0) out.push(notMeasured('snapshot-50ms', text, 'needs trivial with cnbx-overlay-warm (traced)'));
    else {
      const under = rows.every(([, s]) => s.median < 50);
      const small = rows.find(([b]) => SMALL.includes(b))?.[1];
      const large = rows.find(([b]) => b === 'debian-large')?.[1];
      const flat = small && large ? large.median <= small.median * 1.5 + 5 : true;
      out.push({
        id: 'snapshot-50ms',
        text,
        status: under && flat ? 'met' : 'missed',
        figure: rows.map(([b, s]) => `${b} ${s.median.toFixed(0)} ms`).join(', '),
        margin: `slowest ${atMost(Math.max(...rows.map(([, s]) => s.median)), 50, (x) => `${x.toFixed(0)} ms`)}` + (small && large ? `; large ${large.median.toFixed(0)} ms against ≤ 1.5 × small + 5 ms = ${(small.median * 1.5 + 5).toFixed(0)} ms` : ''),
      });
    }
  }
  return out;
}
