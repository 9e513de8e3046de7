// Medians, ranges and pairwise ratios.
import type { Stat } from './types.js';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function stat(xs: readonly number[]): Stat {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  return { n: v.length, median: median(v), min: Math.min(...v), max: Math.max(...v) };
}

/**
 * Ratios a[i] / b[i] of samples taken in the same iteration of the same batch (interleaved, so
 * both saw the same machine state), summarised. Iterations present in only one of the two are left out.
 */
export function pairwise<K>(a: ReadonlyMap<K, number>, b: ReadonlyMap<K, number>): Stat {
  const r: number[] = [];
  for (const [i, x] of a) {
    const y = b.get(i);
    if (y !== undefined && y > 0 && Number.isFinite(x)) r.push(x / y);
  }
  return stat(r);
}

export function fmtS(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 10) return `${s.toFixed(2)} s`;
  return `${s.toFixed(1)} s`;
}

export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`;
}

export function fmtStat(s: Stat, f: (x: number) => string = fmtS): string {
  if (s.n === 0) return '–';
  if (s.n === 1) return f(s.median);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}
