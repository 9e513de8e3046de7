import { formatRate, formatSeconds, sanitizeLine, truncate } from './format.js';
import { amountText, RateMeter, TAIL_LINES, type Renderer, type TaskState } from './progress-model.js';
import type { ProgressOutput } from './progress.js';

// The terminal rendering, after BuildKit's tty output: finished work scrolls up as one line per
// task, while a live region at the bottom is redrawn ten times a second with every running task
// (spinner, bytes, rate, elapsed time) and the last lines of its output:
//
//   => [extract] 1 base layer (cached)                                   0.0s
//   => [2/7] RUN mkdir -p /opt/hello && echo "hello…    layer 218 B      0.3s
//   ⠹ [3/7] COPY motd /etc/motd · snapshot                               0.1s
//   ⠹ [pull] registry.example/run:latest        12 MB / 40 MB  6.0 MB/s  2.0s
//      │ Get:1 http://deb.debian.org/debian bookworm InRelease
//
// Every live line is cut to the terminal's width, so moving the cursor up by the number of lines
// drawn always lands on the region's first line. A failed task prints its last output lines
// (BuildKit's `------ > [2/7] RUN …:` box) so the reason stays on screen.

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class TtyRenderer implements Renderer {
  private readonly running: TaskState[] = [];
  private readonly meters = new Map<TaskState, RateMeter>();
  private drawn = 0;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private cursorHidden = false;
  private readonly restoreCursor = () => {
    if (this.cursorHidden) this.out.write('\x1b[?25h');
  };

  constructor(
    private readonly out: ProgressOutput,
    private readonly o: { now: () => number; color: boolean; intervalMs: number },
  ) {}

  private width(): number {
    return Math.max(20, (this.out.columns ?? 80) - 1);
  }

  private c(code: string, s: string): string {
    return this.o.color ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  /** A line with `right` flush against the terminal's right edge, `left` cut to fit. */
  private justify(left: string, right: string): { text: string; leftLen: number } {
    const w = this.width();
    const r = right === '' ? '' : `  ${right}`;
    const l = truncate(left, Math.max(10, w - [...r].length));
    const pad = Math.max(0, w - [...l].length - [...r].length);
    return { text: `${l}${' '.repeat(pad)}${r}`, leftLen: [...l].length };
  }

  private erase(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private liveLines(): string[] {
    const lines: string[] = [];
    const at = this.o.now();
    const spin = SPINNER[this.frame % SPINNER.length]!;
    for (const t of this.running) {
      const rate = t.unit === 'bytes' && (t.current > 0 || t.total === undefined) ? this.meters.get(t)?.rate(at) : undefined;
      const right = [amountText(t), rate !== undefined && rate > 0 ? formatRate(rate) : '', formatSeconds(at - t.startedAt)].filter((s) => s !== '').join('  ');
      const left = `${spin} [${t.tag}] ${t.title}${t.status ? ` · ${t.status}` : ''}`;
      const { text } = this.justify(left, right);
      lines.push(this.c('34', text));
      for (const l of t.tail.slice(-TAIL_LINES)) lines.push(this.c('2', truncate(`   │ ${sanitizeLine(l)}`, this.width())));
    }
    return lines;
  }

  private draw(): void {
    if (!this.cursorHidden && this.running.length > 0) {
      this.cursorHidden = true;
      this.out.write('\x1b[?25l');
      process.once('exit', this.restoreCursor);
    }
    const lines = this.liveLines();
    this.erase();
    if (lines.length > 0) this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  /** Prints lines above the live region, which is then drawn again below them. */
  private permanent(text: string): void {
    this.erase();
    this.out.write(`${text}\n`);
    this.draw();
  }

  private schedule(): void {
    if (this.running.length > 0 && this.timer === undefined) {
      this.timer = setInterval(() => {
        this.frame++;
        this.draw();
      }, this.o.intervalMs);
      this.timer.unref();
    } else if (this.running.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  line(text: string): void {
    this.permanent(text);
  }

  taskStart(t: TaskState): void {
    this.running.push(t);
    this.meters.set(t, new RateMeter());
    this.meters.get(t)!.add(t.startedAt, 0);
    this.schedule();
    this.draw();
  }

  taskUpdate(t: TaskState): void {
    this.meters.get(t)?.add(this.o.now(), t.current);
  }

  taskOutput(): void {
    // Drawn with the next frame (the tail is in the task's state).
  }

  taskEnd(t: TaskState): void {
    const i = this.running.indexOf(t);
    if (i >= 0) this.running.splice(i, 1);
    this.meters.delete(t);
    this.schedule();
    const took = formatSeconds((t.endedAt ?? this.o.now()) - t.startedAt);
    if (t.state === 'failed') {
      const { text } = this.justify(`=> ERROR [${t.tag}] ${t.title}`, [t.summary ?? '', took].filter(Boolean).join('  '));
      const box = t.tail.length > 0 ? ['------', ` > [${t.tag}] ${t.title}:`, ...t.tail.map((l) => `   │ ${sanitizeLine(l)}`), '------'] : [];
      this.permanent([this.c('31', text), ...box.map((l) => this.c('31', l))].join('\n'));
      return;
    }
    if (t.summary === null) {
      this.draw();
      return;
    }
    const { text } = this.justify(`=> [${t.tag}] ${t.title}`, [t.summary ?? '', took].filter(Boolean).join('  '));
    this.permanent(text);
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.erase();
    this.restoreCursor();
    this.cursorHidden = false;
    process.off('exit', this.restoreCursor);
  }
}
