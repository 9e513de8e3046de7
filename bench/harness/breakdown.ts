// Where one cnb-extender run spent its wall time, from the spans trace-apply.mjs recorded.
import type { Sample, TraceSpan } from './types.js';

export const PHASES = [
  'node startup',
  'module loading',
  'layout reads',
  'layer cache',
  'workspace open (mount/copy)',
  'RUN (chroot executor)',
  'snapshot (commitStep)',
  'beginStep',
  'write output layout',
  'workspace close',
  'other in main()',
  'exit + spawn',
] as const;
export type Phase = (typeof PHASES)[number];

/** Length of the union of intervals (parallel spans count once). */
function unionMs(spans: readonly TraceSpan[]): number {
  const iv = spans.map((s) => [s.start, s.end] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | null = null;
  for (const [a, b] of iv) {
    if (cur && a <= cur[1]) cur[1] = Math.max(cur[1], b);
    else {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    }
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

export function breakdown(s: Sample): Record<Phase, number> | null {
  const t = s.trace;
  if (!t || !s.ok) return null;
  const top = t.spans.filter((x) => x.depth === 0);
  const sum = (pred: (x: TraceSpan) => boolean, list: readonly TraceSpan[] = top) => unionMs(list.filter(pred));
  const opens = sum((x) => x.name.endsWith('.open') && !x.name.startsWith('layout.'));
  const cache = sum((x) => x.name.startsWith('cache.'), t.spans);
  const r: Record<Phase, number> = {
    'node startup': t.bootMs,
    'module loading': t.importMs,
    'layout reads': sum((x) => x.name === 'layout.open' || x.name === 'layout.image'),
    'layer cache': cache,
    'workspace open (mount/copy)': Math.max(0, opens - cache),
    'RUN (chroot executor)': sum((x) => x.name === 'executor.run'),
    'snapshot (commitStep)': sum((x) => x.name.endsWith('.commitStep')),
    beginStep: sum((x) => x.name.endsWith('.beginStep')),
    'write output layout': sum((x) => x.name === 'layout.writeImage' || x.name === 'layout.create'),
    'workspace close': sum((x) => x.name.endsWith('.close')),
    'other in main()': 0,
    'exit + spawn': Math.max(0, s.wallS * 1000 - t.endMs),
  };
  // Everything main() did outside the wrapped calls: flag parsing, reading and linting the
  // Dockerfile, config steps, choosing the snapshotter, printing.
  r['other in main()'] = Math.max(0, t.endMs - t.bootMs - t.importMs - unionMs(top));
  return r;
}
