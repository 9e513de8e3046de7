import type { StepReport } from './engine.js';

// The per-step info line and the final totals line (issue #5 "Logs").

/** `1.2s`, `340ms`, `2m5s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${s}s`;
}

/** `512 B`, `4.1 kB`, `12.3 MB` (SI, as registries and docker print sizes). */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

const MAX_INSTRUCTION = 80;

/** One info line per step: `[curl] RUN apt-get update … (4.2s, cache miss, layer 12.3 MB)`. */
export function formatStepLine(r: StepReport): string {
  const flat = r.instruction.replace(/\s+/g, ' ').trim();
  const text = flat.length > MAX_INSTRUCTION ? `${flat.slice(0, MAX_INSTRUCTION - 1)}…` : flat;
  const parts = [formatDuration(r.durationMs)];
  if (r.cache === 'hit') parts.push('cached');
  else if (r.cache === 'miss') parts.push('cache miss');
  else if (r.cache === 'bypass') parts.push('not cached: build_id in scope');
  if (r.cache !== 'none') parts.push(r.layer ? `layer ${formatSize(r.layer.size)}` : 'no changes');
  return `[${r.extensionId}] ${text} (${parts.join(', ')})`;
}

export interface Totals {
  steps: number;
  cacheHits: number;
  newLayers: number;
  newLayerBytes: number;
  durationMs: number;
}

export function totals(reports: readonly StepReport[], durationMs: number): Totals {
  let cacheHits = 0;
  let newLayers = 0;
  let newLayerBytes = 0;
  for (const r of reports) {
    if (r.cache === 'hit') cacheHits++;
    if (r.layer) {
      newLayers++;
      newLayerBytes += r.layer.size;
    }
  }
  return { steps: reports.length, cacheHits, newLayers, newLayerBytes, durationMs };
}

/** The final line: `Extended run image: 6 steps (2 cache hits), 4 new layers (12.3 MB) in 14.2s`. */
export function formatSummary(kind: 'build' | 'run', t: Totals): string {
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  return (
    `Extended ${kind} image: ${plural(t.steps, 'step', 'steps')} (${plural(t.cacheHits, 'cache hit', 'cache hits')}), ` +
    `${plural(t.newLayers, 'new layer', 'new layers')} (${formatSize(t.newLayerBytes)}) in ${formatDuration(t.durationMs)}`
  );
}
