import { formatGoDuration, parseGoDuration } from './flags-duration.js';

// A command-line parser with the semantics of Go's `flag` package (the lifecycle's parser), so
// every invocation a platform makes of the lifecycle's phases behaves the same with ours:
//   -flag value | -flag=value | --flag value | --flag=value
//   -bool | -bool=false (a bool never takes the next argument)
//   parsing stops at the first non-flag argument, at "-" and after "--"
//   an undefined flag, a missing or bad value → error (the caller prints usage and exits 2)
//   -h / -help / --help (unless defined) → help (the caller prints usage and exits 0)

type Kind = 'string' | 'bool' | 'int' | 'duration';

interface FlagDef {
  name: string;
  kind: Kind;
  usage: string;
  defValue: string;
  set(raw: string): void;
}

/** A defined flag's current value (the default until parse sets it). */
export interface FlagValue<T> {
  value: T;
}

export type ParseOutcome =
  | { kind: 'ok'; args: string[] }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

/** Thrown by a value setter; the message is Go's ("parse error", "value out of range"). */
class ValueError extends Error {}

export class FlagSet {
  private readonly flags = new Map<string, FlagDef>();
  private readonly seen = new Set<string>();

  constructor(readonly name: string) {}

  string(name: string, def: string, usage: string): FlagValue<string> {
    const v = { value: def };
    this.define({ name, kind: 'string', usage, defValue: def, set: (raw) => void (v.value = raw) });
    return v;
  }

  bool(name: string, def: boolean, usage: string): FlagValue<boolean> {
    const v = { value: def };
    this.define({ name, kind: 'bool', usage, defValue: String(def), set: (raw) => void (v.value = parseGoBool(raw)) });
    return v;
  }

  int(name: string, def: number, usage: string): FlagValue<number> {
    const v = { value: def };
    this.define({ name, kind: 'int', usage, defValue: String(def), set: (raw) => void (v.value = parseGoInt(raw)) });
    return v;
  }

  /** A duration in nanoseconds (Go syntax). */
  duration(name: string, def: bigint, usage: string): FlagValue<bigint> {
    const v = { value: def };
    this.define({
      name,
      kind: 'duration',
      usage,
      defValue: formatGoDuration(def),
      set: (raw) => {
        try {
          v.value = parseGoDuration(raw);
        } catch {
          throw new ValueError('parse error');
        }
      },
    });
    return v;
  }

  /** A repeatable string flag (`-build-arg A=1 -build-arg B=2`), like a Go flag.Value slice. */
  stringList(name: string, usage: string): FlagValue<string[]> {
    const v: FlagValue<string[]> = { value: [] };
    this.define({ name, kind: 'string', usage, defValue: '', set: (raw) => void v.value.push(raw) });
    return v;
  }

  private define(f: FlagDef): void {
    if (this.flags.has(f.name)) throw new Error(`${this.name} flag redefined: ${f.name}`);
    this.flags.set(f.name, f);
  }

  has(name: string): boolean {
    return this.flags.has(name);
  }

  /** Whether the flag was given on the command line (not just defaulted). */
  isSet(name: string): boolean {
    return this.seen.has(name);
  }

  parse(argv: readonly string[]): ParseOutcome {
    const args = [...argv];
    while (args.length > 0) {
      const s = args[0]!;
      if (s.length < 2 || s[0] !== '-') break;
      let minuses = 1;
      if (s[1] === '-') {
        minuses = 2;
        if (s.length === 2) {
          args.shift();
          break;
        }
      }
      let name = s.slice(minuses);
      if (name.length === 0 || name[0] === '-' || name[0] === '=') return { kind: 'error', message: `bad flag syntax: ${s}` };
      args.shift();
      let value: string | undefined;
      const eq = name.indexOf('=', 1);
      if (eq > 0) {
        value = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      const flag = this.flags.get(name);
      if (!flag) {
        if (name === 'help' || name === 'h') return { kind: 'help' };
        return { kind: 'error', message: `flag provided but not defined: -${name}` };
      }
      if (flag.kind === 'bool') {
        try {
          flag.set(value ?? 'true');
        } catch (e) {
          return { kind: 'error', message: `invalid boolean value ${goQuote(value ?? 'true')} for -${name}: ${(e as Error).message}` };
        }
      } else {
        if (value === undefined) {
          if (args.length === 0) return { kind: 'error', message: `flag needs an argument: -${name}` };
          value = args.shift()!;
        }
        try {
          flag.set(value);
        } catch (e) {
          return { kind: 'error', message: `invalid value ${goQuote(value)} for flag -${name}: ${(e as Error).message}` };
        }
      }
      this.seen.add(name);
    }
    return { kind: 'ok', args };
  }

  /** `Usage of <name>:` followed by every flag, sorted, in Go's PrintDefaults layout. */
  usage(): string {
    const lines = [`Usage of ${this.name}:`];
    for (const f of [...this.flags.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const typeName = f.kind === 'bool' ? '' : f.kind;
      let line = `  -${f.name}${typeName ? ` ${typeName}` : ''}`;
      line += line.length <= 4 ? '\t' : '\n    \t';
      line += f.usage.replaceAll('\n', '\n    \t');
      if (!isZero(f)) line += f.kind === 'string' ? ` (default ${goQuote(f.defValue)})` : ` (default ${f.defValue})`;
      lines.push(line);
    }
    return `${lines.join('\n')}\n`;
  }
}

function isZero(f: FlagDef): boolean {
  switch (f.kind) {
    case 'string':
      return f.defValue === '';
    case 'bool':
      return f.defValue === 'false';
    case 'int':
      return f.defValue === '0';
    case 'duration':
      return f.defValue === '0s';
  }
}

/** strconv.ParseBool. */
export function parseGoBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new ValueError('parse error');
}

/** strconv.ParseInt(s, 0, 64): sign, 0x/0o/0b/0 prefixes, `_` between digits; int64 range. */
export function parseGoInt(s: string): number {
  let body = s;
  let neg = false;
  if (body[0] === '+' || body[0] === '-') {
    neg = body[0] === '-';
    body = body.slice(1);
  }
  let digits = body;
  let radix = 10;
  let prefixed = false;
  const lower = body.toLowerCase();
  if (lower.startsWith('0x')) [radix, digits, prefixed] = [16, body.slice(2), true];
  else if (lower.startsWith('0o')) [radix, digits, prefixed] = [8, body.slice(2), true];
  else if (lower.startsWith('0b')) [radix, digits, prefixed] = [2, body.slice(2), true];
  else if (body.length > 1 && body[0] === '0') [radix, digits, prefixed] = [8, body.slice(1), true];
  const digit = { 2: '[01]', 8: '[0-7]', 10: '[0-9]', 16: '[0-9a-fA-F]' }[radix as 2 | 8 | 10 | 16];
  const re = new RegExp(`^${prefixed ? '_?' : ''}${digit}+(?:_${digit}+)*$`);
  if (!re.test(digits)) throw new ValueError('parse error');
  const clean = digits.replaceAll('_', '');
  const prefix = { 2: '0b', 8: '0o', 10: '', 16: '0x' }[radix as 2 | 8 | 10 | 16];
  let n = BigInt(`${prefix}${clean}`);
  if (neg) n = -n;
  if (n > (1n << 63n) - 1n || n < -(1n << 63n)) throw new ValueError('value out of range');
  return Number(n);
}

/** Go's %q for the strings we print (ASCII-printable in practice). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}
