// The progress display: plain lines (timestamps, step prefixes, throttled byte counts, summaries),
// quiet and lifecycle renderings, the TTY renderer's live region (cut to the terminal width, erased
// on close, failures boxed), and the plain output of the built CLI on a real build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgress, type ProgressMode } from '../../src/cli/progress.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

function sink(columns = 80) {
  let text = '';
  return { out: { write: (s: string) => void (text += s), isTTY: true, columns }, text: () => text };
}

/** A progress whose clocks move only when the test says so. */
function fakeClock(mode: ProgressMode, level: 'debug' | 'info' | 'warn' | 'error' = 'info', columns = 80) {
  const s = sink(columns);
  let ms = 0;
  const p = createProgress({
    mode,
    out: s.out,
    level,
    color: false,
    now: () => ms,
    date: () => new Date(2026, 0, 2, 3, 4, 5, ms % 1000),
    plainIntervalMs: 2000,
    ttyIntervalMs: 1_000_000,
  });
  return { p, text: s.text, tick: (d: number) => void (ms += d) };
}

describe('plain progress', () => {
  it('timestamps every line, prefixes output with its step, throttles byte counts, ends with a summary', () => {
    const { p, text, tick } = fakeClock('plain');
    const t = p.task('RUN apt-get\n  install -y curl', { tag: '2/7' });
    t.output('Reading package lists...');
    tick(500);
    t.set(1_000_000, 4_000_000); // within 2 s of the start: not printed
    tick(1600);
    t.set(2_000_000); // 2.1 s after the start: printed with the average rate
    tick(100);
    t.set(3_000_000); // throttled
    t.status('snapshot');
    t.done('layer 1.2 MB');
    p.log.warn('something odd');
    p.log.debug('hidden at info');
    p.close();
    expect(text().split('\n')).toEqual([
      '03:04:05.000 [2/7] RUN apt-get install -y curl',
      '03:04:05.000 [2/7] │ Reading package lists...',
      '03:04:05.100 [2/7] 2.0 MB / 4.0 MB (50%), 952 kB/s',
      '03:04:05.200 [2/7] snapshot',
      '03:04:05.200 [2/7] done: layer 1.2 MB (2.2s)',
      '03:04:05.200 Warning: something odd',
      '',
    ]);
    expect(p.warnings).toEqual(['something odd']);
  });

  it('a failed step says so; output lines are cleaned of escapes and carriage returns', () => {
    const { p, text } = fakeClock('plain');
    const t = p.task('RUN false', { tag: '1/1' });
    t.output('\x1b[31mred\x1b[0m\tdone');
    t.output('10%\r50%\r100%');
    t.fail();
    p.close();
    expect(text()).toBe('03:04:05.000 [1/1] RUN false\n03:04:05.000 [1/1] │ red    done\n03:04:05.000 [1/1] │ 100%\n03:04:05.000 [1/1] FAILED (0.0s)\n');
  });

  it('quiet: only warnings and errors, and the last output of a task that failed', () => {
    const { p, text } = fakeClock('quiet');
    p.log.info('not shown');
    const ok = p.task('RUN true');
    ok.output('not shown either');
    ok.done('no changes');
    const bad = p.task('RUN make', { tag: '3/3' });
    bad.output('cc: error: x.c: No such file');
    bad.fail();
    p.log.error('it failed');
    p.close();
    expect(text()).toBe('[3/3] RUN make: its last output lines:\n[3/3] │ cc: error: x.c: No such file\nERROR: it failed\n');
  });

  it('lifecycle: log lines and RUN output as they are, tasks silent', () => {
    const { p, text } = fakeClock('lifecycle', 'debug');
    const t = p.task('RUN echo hi');
    t.output('hi');
    t.done('layer 1 kB');
    p.log.debug('Starting extender...');
    p.log.warn('w');
    p.close();
    expect(text()).toBe('hi\nStarting extender...\nWarning: w\n');
  });
});

describe('tty progress', () => {
  it('draws running tasks in a live region cut to the width, collapses them into one line each, erases the region on close', () => {
    const { p, text, tick } = fakeClock('tty', 'info', 40);
    const a = p.task('RUN a very long command line that cannot fit in forty columns', { tag: '1/2' });
    a.output('first output line of the step, also far too long to fit');
    a.set(5_000_000);
    tick(1000);
    p.log.info('a log line goes above the live region');
    a.done('layer 5 MB');
    const b = p.task('RUN b', { tag: '2/2' });
    b.done(null); // collapsed without a line
    p.close();
    const out = text();
    // Every live line fits (no wrapping, so cursor-up always lands on the region's first line).
    // eslint-disable-next-line no-control-regex
    const frames = out.split(/\x1b\[\d+F\x1b\[J/);
    for (const f of frames.slice(0, -1)) {
      // eslint-disable-next-line no-control-regex
      for (const line of f.replace(/\x1b\[\?25[lh]/g, '').split('\n')) {
        if (line.startsWith('⠋') || line.startsWith('   │')) expect([...line].length).toBeLessThanOrEqual(39);
      }
    }
    // What stays on screen: the log line, the finished step's one line; nothing of b, no live region.
    // eslint-disable-next-line no-control-regex
    const final = out.slice(out.lastIndexOf('\x1b[J') + 3).replace(/\x1b\[\?25[lh]/g, '');
    expect(final).toBe('');
    expect(out).toContain('a log line goes above the live region\n');
    expect(out).toMatch(/=> \[1\/2\] RUN a very[^\n]*… +layer 5 MB {2}1\.0s\n/);
    expect(out).not.toContain('=> [2/2]');
    expect(out.endsWith('\x1b[?25h')).toBe(true);
  });

  it('a failed task prints its last output lines in a box', () => {
    const { p, text } = fakeClock('tty', 'info', 60);
    const t = p.task('RUN make', { tag: '3/3' });
    t.output('cc: error');
    t.fail();
    p.close();
    expect(text()).toContain('------\n > [3/3] RUN make:\n   │ cc: error\n------\n');
    expect(text()).toMatch(/=> ERROR \[3\/3\] RUN make +0\.0s\n/);
  });

  it('info log lines during an absorbing task become its tail, warnings stay', () => {
    const { p, text } = fakeClock('tty', 'info', 60);
    const t = p.task('pull example/run', { tag: 'pull', absorbLogs: true });
    p.log.info('pulled layer 1/2');
    p.log.warn('slow registry');
    t.done('2 layers');
    p.close();
    const permanent = text().split(/\x1b\[\d+F\x1b\[J/).map((f) => f.split('\n')).flat();
    expect(permanent).toContain('Warning: slow registry');
    expect(permanent.filter((l) => l === 'pulled layer 1/2')).toEqual([]);
  });
});

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');
const HELLO = resolve(import.meta.dirname, '../../fixtures/extensions/hello');

describe.skipIf(!existsSync(BIN) || !isRoot)('cnb-extender apply -progress plain (built CLI, real build)', () => {
  it('prints timestamped task lines, RUN output with its step prefix, and the result on stdout', async () => {
    const base = fixture('busybox');
    const dir = await tmpDir();
    const df = join(dir, 'run.Dockerfile');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(df, 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo one && echo two >&2 && echo x > /x\nLABEL a=b\n');
    const r = spawnSync(process.execPath, [BIN, 'apply', '-base', `${base}:latest`, '-dockerfile', df, '-kind', 'run', '-output', join(dir, 'out'), '-progress', 'plain'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    for (const l of lines) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} /);
    const body = lines.map((l) => l.slice(13));
    expect(body).toContain('[extract] 1 base layer (1.1 MB)');
    expect(body).toContain('[1/3] USER root');
    expect(body).toContain('[2/3] RUN echo one && echo two >&2 && echo x > /x');
    expect(body).toContain('[2/3] │ one');
    expect(body).toContain('[2/3] │ two');
    expect(body).toContain('[2/3] snapshot');
    expect(body.some((l) => /^\[2\/3\] done: layer \d+ B \(\d+\.\ds\)$/.test(l))).toBe(true);
    expect(body.some((l) => /^\[write\] done: 2 layer blobs \(.*\), config, manifest \(\d+\.\ds\)$/.test(l))).toBe(true);
    expect(r.stdout).toMatch(new RegExp(`^${join(dir, 'out')} sha256:[0-9a-f]{64}\\n  3 steps, 1 new layer \\(\\d+ B\\), (overlay|scan) snapshotter, `));
  });
});
