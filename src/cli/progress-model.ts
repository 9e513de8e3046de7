// The state a progress renderer draws (shared by progress.ts and the renderers).
import { formatBytes } from './format.js';

export type ProgressMode = 'tty' | 'plain' | 'lifecycle' | 'quiet';
export type ProgressLevel = 'debug' | 'info' | 'warn' | 'error';

export const LEVEL_ORDER: Record<ProgressLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A renderer draws task events; Progress below does the bookkeeping common to all modes. */
export interface Renderer {
  line(text: string, kind: 'log' | 'output'): void;
  taskStart(t: TaskState): void;
  taskUpdate(t: TaskState): void;
  taskOutput(t: TaskState, line: string): void;
  taskEnd(t: TaskState): void;
  close(): void;
}

export interface TaskState {
  tag: string;
  title: string;
  unit: 'bytes' | 'items';
  current: number;
  total: number | undefined;
  status: string;
  startedAt: number;
  endedAt: number | undefined;
  state: 'running' | 'done' | 'failed';
  summary: string | null | undefined;
  /** The last output lines (ring buffer), for the TTY tail and for failures. */
  tail: string[];
  /** Whether the output lines were already printed permanently (plain mode). */
  outputShown: boolean;
  absorbLogs: boolean;
}

export const TAIL_LINES = 6;
export const FAILURE_LINES = 40;


/** `1.2 MB / 3.4 MB`, `1.2 MB`, `3/7` — how far a task is (empty when nothing is known yet). */
export function amountText(t: TaskState): string {
  if (t.unit === 'items') return t.total !== undefined ? `${t.current}/${t.total}` : t.current > 0 ? String(t.current) : '';
  if (t.current === 0 && t.total === undefined) return '';
  return t.total !== undefined ? `${formatBytes(t.current)} / ${formatBytes(t.total)}` : formatBytes(t.current);
}

/** Bytes per second over the last couple of seconds of samples. */
export class RateMeter {
  private samples: Array<[number, number]> = [];
  constructor(private readonly windowMs = 2000) {}

  add(at: number, value: number): void {
    this.samples.push([at, value]);
    while (this.samples.length > 2 && at - this.samples[1]![0] > this.windowMs) this.samples.shift();
  }

  /**
   * Units per second, or undefined until there are two samples some time apart. `at` (now) counts
   * as a sample of the last value when nothing arrived for a while, so a stalled transfer slows down
   * to 0 instead of showing its last rate forever.
   */
  rate(at?: number): number | undefined {
    const lastSample = this.samples.at(-1);
    if (at !== undefined && lastSample && at - lastSample[0] > 500) this.add(at, lastSample[1]);
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last[0] - first[0] < 200) return undefined;
    return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
  }
}
