import { formatRate, formatSeconds, sanitizeLine } from './format.js';
import { amountText, type ProgressMode, type Renderer, type TaskState } from './progress-model.js';
import type { ProgressOutput } from './progress.js';

// Line-by-line renderings: `plain` (timestamped events), `lifecycle` (the lifecycle's log format:
// log lines and RUN output as they are, tasks silent) and `quiet` (warnings, errors, and the output
// of a task that failed). Nothing is ever redrawn, so this is what logs and CI see.
//
//   11:20:03.101 [2/7] RUN mkdir -p /opt/hello
//   11:20:03.180 [2/7] │ created /opt/hello
//   11:20:03.420 [2/7] done: layer 218 B, cache miss (0.3s)
//   11:20:05.002 [pull] 12 MB / 40 MB (30%), 6.0 MB/s

export class PlainRenderer implements Renderer {
  private readonly lastUpdate = new Map<TaskState, number>();
  private readonly lastStatus = new Map<TaskState, string>();

  constructor(
    private readonly out: ProgressOutput,
    private readonly o: { mode: ProgressMode; now: () => number; date: () => Date; intervalMs: number; color: boolean },
  ) {}

  private stamp(): string {
    const d = this.o.date();
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)} `;
  }

  private emit(text: string): void {
    const prefix = this.o.mode === 'plain' ? this.stamp() : '';
    this.out.write(`${prefix}${text}\n`);
  }

  line(text: string): void {
    this.emit(text);
  }

  taskStart(t: TaskState): void {
    if (this.o.mode !== 'plain') return;
    this.lastUpdate.set(t, t.startedAt);
    this.emit(`[${t.tag}] ${t.title}`);
  }

  taskUpdate(t: TaskState): void {
    if (this.o.mode !== 'plain') return;
    if (t.status !== '' && t.status !== this.lastStatus.get(t)) {
      this.lastStatus.set(t, t.status);
      this.emit(`[${t.tag}] ${t.status}`);
    }
    const at = this.o.now();
    const amount = amountText(t);
    if (amount === '' || at - (this.lastUpdate.get(t) ?? 0) < this.o.intervalMs) return;
    this.lastUpdate.set(t, at);
    this.emit(`[${t.tag}] ${amount}${percent(t)}${rate(t, at)}`);
  }

  taskOutput(t: TaskState, line: string): void {
    if (this.o.mode === 'quiet') return;
    t.outputShown = true;
    if (this.o.mode === 'lifecycle') this.out.write(`${line}\n`);
    else this.emit(`[${t.tag}] │ ${sanitizeLine(line)}`);
  }

  taskEnd(t: TaskState): void {
    this.lastUpdate.delete(t);
    this.lastStatus.delete(t);
    const took = formatSeconds((t.endedAt ?? this.o.now()) - t.startedAt);
    if (t.state === 'failed') {
      if (this.o.mode === 'plain') this.emit(`[${t.tag}] FAILED${t.summary ? `: ${t.summary}` : ''} (${took})`);
      if (!t.outputShown && t.tail.length > 0) {
        this.emit(`[${t.tag}] ${t.title}: its last output lines:`);
        for (const l of t.tail) this.emit(`[${t.tag}] │ ${sanitizeLine(l)}`);
      }
      return;
    }
    if (this.o.mode !== 'plain') return;
    this.emit(`[${t.tag}] done${t.summary ? `: ${t.summary}` : ''} (${took})`);
  }

  close(): void {}
}

function percent(t: TaskState): string {
  return t.unit === 'bytes' && t.total ? ` (${Math.floor((100 * t.current) / t.total)}%)` : '';
}

/** Average rate since the task started: stable enough for a line every few seconds. */
function rate(t: TaskState, at: number): string {
  if (t.unit !== 'bytes' || at - t.startedAt < 200 || t.current === 0) return '';
  return `, ${formatRate((t.current * 1000) / (at - t.startedAt))}`;
}
