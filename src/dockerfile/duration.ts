/**
 * Go's time.ParseDuration, which HEALTHCHECK's --interval/--timeout/--start-period/--start-interval
 * use: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` or `0`, units ns us µs μs ms s m h. Returns nanoseconds,
 * or undefined when the text is not a duration.
 */
const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?([^\d.]+)/.exec(s);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) return undefined;
    const unit = UNIT_NS[m[3]!];
    if (unit === undefined) return undefined;
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * unit;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}
