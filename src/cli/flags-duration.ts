// Go's time.ParseDuration and Duration.String, so `-kaniko-cache-ttl` accepts and prints exactly
// what the lifecycle does ("336h", "1h30m", "1.5s", "300ms"; no "d" unit).

const NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX = (1n << 63n) - 1n;

export class DurationError extends Error {
  constructor(input: string, why: string) {
    super(`time: ${why} ${JSON.stringify(input)}`);
    this.name = 'DurationError';
  }
}

/** Parses a Go duration (`[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`) into nanoseconds. */
export function parseGoDuration(input: string): bigint {
  let s = input;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new DurationError(input, 'invalid duration');
  let total = 0n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const intPart = m[1] ?? '';
    const fracPart = m[2];
    if (intPart === '' && (fracPart === undefined || fracPart === '')) throw new DurationError(input, 'invalid duration');
    s = s.slice(m[0].length);
    const unitMatch = /^[^\d.]+/.exec(s);
    if (!unitMatch) throw new DurationError(input, 'missing unit in duration');
    const unit = unitMatch[0];
    s = s.slice(unit.length);
    const scale = NS[unit];
    if (scale === undefined) throw new DurationError(input, `unknown unit ${JSON.stringify(unit)} in duration`);
    let v = BigInt(intPart === '' ? '0' : intPart) * scale;
    if (fracPart) {
      // Go keeps the fraction's precision by scaling, truncating below one nanosecond.
      v += (BigInt(fracPart) * scale) / 10n ** BigInt(fracPart.length);
    }
    total += v;
    if (total > MAX + (neg ? 1n : 0n)) throw new DurationError(input, 'invalid duration');
  }
  return neg ? -total : total;
}

/** Formats nanoseconds the way Go's Duration.String does ("336h0m0s", "1.5s", "300ms", "0s"). */
export function formatGoDuration(ns: bigint): string {
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    if (u === 0n) return '0s';
    if (u < 1_000n) out = `${u}ns`;
    else if (u < 1_000_000n) out = `${frac(u, 3)}µs`;
    else out = `${frac(u, 6)}ms`;
  } else {
    const secs = frac(u % 60_000_000_000n, 9);
    u /= 60_000_000_000n;
    out = `${secs}s`;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

/** v / 10^prec with the fraction's trailing zeros (and a bare point) dropped. */
function frac(v: bigint, prec: number): string {
  const p = 10n ** BigInt(prec);
  const whole = v / p;
  const f = (v % p).toString().padStart(prec, '0').replace(/0+$/, '');
  return f === '' ? `${whole}` : `${whole}.${f}`;
}

/** 14 days, the lifecycle's default kaniko cache TTL. */
export const DEFAULT_KANIKO_CACHE_TTL_NS = 336n * 3_600_000_000_000n;
