import type { Logger } from '../log.js';
import { oneLine } from './format.js';
import { FAILURE_LINES, LEVEL_ORDER, type ProgressLevel, type ProgressMode, type Renderer, type TaskState } from './progress-model.js';
import { PlainRenderer } from './progress-plain.js';
import { TtyRenderer } from './progress-tty.js';

export { LEVEL_ORDER, type ProgressLevel, type ProgressMode } from './progress-model.js';

// What every command shows while it works. One model, four renderings:
//   tty        live per-task lines (bytes, rates, the tail of a RUN's output) that collapse into one
//              summary line per task when it ends: BuildKit's tty output;
//   plain      one timestamped line per event (task start, throttled byte counts, output, end):
//              for logs, CI and `--progress=plain`;
//   lifecycle  the lifecycle's own log format (no timestamps, RUN output as is): what the phases
//              print when a platform (pack, kpack) runs them, so their log parsers keep working;
//   quiet      warnings and errors only (a failing task still shows its last output lines).
// Commands create one Progress, hand `progress.log` to the libraries as their Logger, open a Task
// for each long piece of work, and close the Progress before printing their final summary.

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  mode: ProgressMode;
  out: ProgressOutput;
  level?: ProgressLevel;
  color?: boolean;
  /** Milliseconds clock (default performance.now); injectable for tests. */
  now?: () => number;
  /** Wall clock for plain timestamps (default `new Date()`). */
  date?: () => Date;
  /** Plain mode: at most one byte-count line per task per this many ms (default 2000). */
  plainIntervalMs?: number;
  /** TTY mode: redraw period (default 100 ms). */
  ttyIntervalMs?: number;
}

export interface TaskOptions {
  /** Short label shown in brackets: `2/7`, `pull`, `extract`. Default: a running number. */
  tag?: string;
  /** Expected total, in `unit`s (bytes by default); unknown if absent. */
  total?: number;
  unit?: 'bytes' | 'items';
  /** TTY: info/debug log lines logged while this task runs become its output tail (collapsed at the end). */
  absorbLogs?: boolean;
}

export interface Task {
  readonly tag: string;
  readonly title: string;
  /** Work done so far (and the total, when it becomes known). */
  set(current: number, total?: number): void;
  /** What the task is doing now: `snapshot`, `compress`… */
  status(text: string): void;
  /** One line of the task's own output (a RUN's stdout/stderr). */
  output(line: string): void;
  /** Finished: `summary` becomes the task's one line; null collapses it without a line. */
  done(summary?: string | null): void;
  /** Failed: the task's line is marked, and its last output lines are shown where they were not. */
  fail(summary?: string): void;
}

/** A Logger that also knows its level, for commands that pass it on. */
export interface ProgressLogger extends Logger {
  readonly level: ProgressLevel;
}

export interface Progress {
  readonly mode: ProgressMode;
  /** The Logger to give the libraries: lines are level-filtered and drawn in this mode. */
  readonly log: ProgressLogger;
  /** Every warning logged so far (for the JSON report). */
  readonly warnings: readonly string[];
  task(title: string, opts?: TaskOptions): Task;
  /** Output lines that belong to no task. */
  output(line: string): void;
  /** Stops the live display (idempotent); what is printed afterwards goes below it. */
  close(): void;
}

/**
 * `auto` → tty when `out` is a terminal (and TERM is not dumb), else `fallback` (plain for our own
 * commands, lifecycle for the lifecycle's phases). `quiet` wins over everything.
 */
export function chooseProgressMode(
  requested: string,
  opts: { out: ProgressOutput; env: Readonly<Record<string, string | undefined>>; quiet?: boolean; fallback: 'plain' | 'lifecycle' },
): ProgressMode | undefined {
  if (opts.quiet) return 'quiet';
  switch (requested) {
    case 'auto':
      return opts.out.isTTY === true && opts.env.TERM !== 'dumb' ? 'tty' : opts.fallback;
    case 'tty':
    case 'plain':
    case 'quiet':
      return requested;
    case 'lifecycle':
      return 'lifecycle';
    default:
      return undefined;
  }
}

export const PROGRESS_MODES = 'auto, tty, plain, lifecycle or quiet';

export function createProgress(opts: ProgressOptions): Progress {
  const level = opts.level ?? 'info';
  const now = opts.now ?? (() => performance.now());
  const renderer: Renderer =
    opts.mode === 'tty'
      ? new TtyRenderer(opts.out, { now, color: opts.color ?? true, intervalMs: opts.ttyIntervalMs ?? 100 })
      : new PlainRenderer(opts.out, { mode: opts.mode, now, date: opts.date ?? (() => new Date()), intervalMs: opts.plainIntervalMs ?? 2000, color: opts.color ?? false });
  const warnings: string[] = [];
  const running: TaskState[] = [];
  let counter = 0;
  let closed = false;

  const logLine = (l: ProgressLevel, prefix: string) => (msg: string) => {
    if (l === 'warn') warnings.push(msg);
    if (LEVEL_ORDER[l] < LEVEL_ORDER[level]) return;
    if (opts.mode === 'quiet' && LEVEL_ORDER[l] < LEVEL_ORDER.warn) return;
    const text = `${prefix}${msg.replace(/\n$/, '')}`;
    const absorber = opts.mode === 'tty' && LEVEL_ORDER[l] < LEVEL_ORDER.warn ? running.findLast((t) => t.absorbLogs) : undefined;
    if (absorber) {
      pushTail(absorber, text);
      renderer.taskOutput(absorber, text);
      return;
    }
    renderer.line(text, 'log');
  };
  const style = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const log: ProgressLogger = {
    level,
    debug: logLine('debug', opts.mode === 'lifecycle' ? '' : 'Debug: '),
    info: logLine('info', ''),
    warn: logLine('warn', style('33;1', 'Warning: ')),
    error: logLine('error', style('31;1', 'ERROR: ')),
  };

  return {
    mode: opts.mode,
    log,
    warnings,
    task(title, topts = {}) {
      const t: TaskState = {
        tag: topts.tag ?? String(++counter),
        title: oneLine(title),
        unit: topts.unit ?? 'bytes',
        current: 0,
        total: topts.total,
        status: '',
        startedAt: now(),
        endedAt: undefined,
        state: 'running',
        summary: undefined,
        tail: [],
        outputShown: false,
        absorbLogs: topts.absorbLogs ?? false,
      };
      running.push(t);
      renderer.taskStart(t);
      const end = (state: 'done' | 'failed', summary: string | null | undefined) => {
        if (t.state !== 'running') return;
        t.state = state;
        t.summary = summary;
        t.endedAt = now();
        running.splice(running.indexOf(t), 1);
        renderer.taskEnd(t);
      };
      return {
        tag: t.tag,
        title: t.title,
        set(current, total) {
          if (t.state !== 'running') return;
          t.current = current;
          if (total !== undefined) t.total = total;
          renderer.taskUpdate(t);
        },
        status(text) {
          if (t.state !== 'running' || t.status === text) return;
          t.status = text;
          renderer.taskUpdate(t);
        },
        output(line) {
          pushTail(t, line);
          if (opts.mode === 'quiet') return;
          renderer.taskOutput(t, line);
        },
        done: (summary) => end('done', summary),
        fail: (summary) => end('failed', summary),
      };
    },
    output(line) {
      if (opts.mode === 'quiet') return;
      renderer.line(line, 'output');
    },
    close() {
      if (closed) return;
      closed = true;
      for (const t of [...running]) {
        t.state = 'failed';
        t.endedAt = now();
        renderer.taskEnd(t);
      }
      running.length = 0;
      renderer.close();
    },
  };
}

function pushTail(t: TaskState, line: string): void {
  t.tail.push(line);
  if (t.tail.length > FAILURE_LINES) t.tail.shift();
}

/** A Logger that drops everything below `level` and passes the rest on (for libraries given a stricter level). */
export function levelFilter(log: Logger, level: ProgressLevel): Logger {
  const at = (l: ProgressLevel, f: (m: string) => void) => (m: string) => {
    if (LEVEL_ORDER[l] >= LEVEL_ORDER[level]) f(m);
  };
  return { debug: at('debug', (m) => log.debug(m)), info: at('info', (m) => log.info(m)), warn: at('warn', (m) => log.warn(m)), error: at('error', (m) => log.error(m)) };
}
