/** Human sizes: 512 B, 1.2 kB, 3.4 MB (decimal units, as docker and buildah print them). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** Human durations: 12 ms, 1.25 s, 2m03s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(2)} s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}

/** Transfer rates: 12 MB/s. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.max(0, Math.round(bytesPerSecond)))}/s`;
}

/** Seconds with one decimal, as BuildKit prints a step's time: 0.3s, 12.0s, 2m03s. */
export function formatSeconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** `n thing` / `n things`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** One line of a program's output made safe to draw: the last carriage-return segment, no escapes, tabs expanded. */
export function sanitizeLine(line: string): string {
  const cr = line.lastIndexOf('\r', line.length - 2);
  const seg = cr >= 0 ? line.slice(cr + 1) : line;
  // eslint-disable-next-line no-control-regex
  return seg.replace(/\r$/, '').replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]/g, '').replace(/\t/g, '    ').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

/** `s` cut to `width` characters, with an ellipsis when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...s];
  return chars.length <= width ? s : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** The instruction on one line: whitespace runs collapsed. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
