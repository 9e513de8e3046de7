// The bench harness end to end in CI-like time: one scenario, our overlay engine (cold and warm),
// busybox, one run, against the repository's dist/. Checks the shape of results.json and that
// the report and chart are written; the timing figures themselves belong to `npm run bench`.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBench } from '../../bench/harness/bench.js';
import type { Results } from '../../bench/harness/types.js';
import { FIXTURES_DIR, fixture, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe.skipIf(!isRoot || !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')))('bench harness smoke', () => {
  it('runs --quick on busybox (trivial, cnbx overlay) and writes results.json, RESULTS.md and the chart', async () => {
    fixture('busybox');
    const dir = await tmpDir('cnbx-bench-');
    const lines: string[] = [];
    const r = await runBench({
      runs: 1,
      slowRuns: 1,
      bases: ['busybox'],
      scenarios: ['trivial'],
      engines: ['cnbx-overlay'],
      refs: true,
      quick: true,
      trace: true,
      dist: join(ROOT, 'dist'),
      outDir: join(dir, 'out'),
      workDir: join(dir, 'work'),
      fixturesDir: FIXTURES_DIR,
      report: true,
      log: (l) => lines.push(l),
    });

    const onDisk = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')) as Results;
    expect(onDisk.schema).toBe(1);
    expect(onDisk.samples.length).toBe(r.samples.length);
    for (const k of ['cpuModel', 'kernel', 'workFs', 'node', 'buildah', 'gitCommit'] as const) expect(typeof onDisk.machine[k]).toBe('string');
    expect(onDisk.machine.cores).toBeGreaterThan(0);
    expect(onDisk.machine.ramGiB).toBeGreaterThan(0);
    expect(onDisk.bases).toEqual([expect.objectContaining({ name: 'busybox', layers: 1 })]);
    expect(onDisk.engines.map((e) => e.id)).toEqual(['cnbx-overlay-cold', 'cnbx-overlay-warm']);

    // One sample per engine and per base reference, all successful, with sane figures.
    const subjects = onDisk.samples.map((s) => `${s.scenario ?? '-'}:${s.subject}`).sort();
    expect(subjects).toEqual(['-:cnbx-materialize', '-:pigz-tar', '-:tar-xzf', 'trivial:cnbx-overlay-cold', 'trivial:cnbx-overlay-warm']);
    for (const s of onDisk.samples) {
      expect(s.ok, `${s.subject}: ${s.error}`).toBe(true);
      expect(s.wallS).toBeGreaterThan(0);
      expect(s.maxRssMiB).toBeGreaterThan(0);
      expect(s.iteration).toBe(0);
    }
    // Our runs carry the trace: node startup, imports, and a commitStep span for the RUN.
    for (const s of onDisk.samples.filter((x) => x.kind === 'engine')) {
      expect(s.trace?.exitCode).toBe(0);
      expect(s.trace!.bootMs).toBeGreaterThan(0);
      expect(s.trace!.spans.some((sp) => sp.name === 'overlay.commitStep')).toBe(true);
      expect(s.trace!.spans.some((sp) => sp.name === 'executor.run')).toBe(true);
      expect(s.extra?.commits).toBe(1);
    }

    const cold = onDisk.summary.cells.find((c) => c.subject === 'cnbx-overlay-cold')!;
    expect(cold.wall.n).toBe(1);
    expect(cold.ratios['/ tar -xzf']!.n).toBe(1);
    expect(cold.commitMs!.n).toBe(1);
    expect(onDisk.summary.targets.map((t) => t.id)).toEqual(['cold-vs-tar', 'cold-vs-buildah', 'warm-trivial', 'throughput', 'rss', 'materialize', 'snapshot-50ms']);
    expect(onDisk.summary.targets.find((t) => t.id === 'rss')!.status).not.toBe('not measured');
    expect(onDisk.summary.targets.find((t) => t.id === 'cold-vs-buildah')!.status).toBe('not measured');

    const md = readFileSync(join(dir, 'out', 'RESULTS.md'), 'utf8');
    expect(md).toContain('## Targets');
    expect(md).toContain('## busybox');
    expect(readFileSync(join(dir, 'out', 'chart.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(lines.some((l) => l.includes('trivial cnbx-overlay-warm'))).toBe(true);
  });
});
