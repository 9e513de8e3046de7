import { DockerfileError } from './errors.js';

/**
 * Docker's shell-word lexer (BuildKit `frontend/dockerfile/shell`): quotes, the escape character,
 * `$A`, `${A}` and the `${A<op>word}` forms. It is not a shell: no command substitution, no
 * globbing, no arithmetic. Two results, as in BuildKit:
 * - `word`  (ProcessWord): one string, whitespace kept — ENV, LABEL, ARG, USER, WORKDIR, COPY paths…
 * - `words` (ProcessWords): split on unquoted whitespace *after* expansion — EXPOSE, heredoc detection.
 */

export interface LexOptions {
  /** The escape character from the `# escape=` directive (default backslash). */
  escape?: string;
  /** Keep quote characters in the output (BuildKit RawQuotes; used to find quoted heredoc names). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output (BuildKit RawEscapes). */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (BuildKit SkipProcessQuotes; COPY <<EOF bodies). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to "" (SkipUnsetEnv). */
  skipUnsetEnv?: boolean;
}

/** Looks a variable up; `undefined` means unset (distinct from set to ""). */
export type VarLookup = (name: string) => string | undefined;

export interface LexResult {
  word: string;
  words: string[];
  /** Names that were looked up and found / not found (for "unused build arg" style diagnostics). */
  matched: Set<string>;
  unmatched: Set<string>;
}

const EOF = undefined;

// Go's unicode.IsSpace: Latin-1 spaces plus the Unicode White_Space property.
const SPACE_RE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
export function isSpace(ch: string): boolean {
  return SPACE_RE.test(ch);
}
const LETTER_RE = /^\p{L}$/u;
const DIGIT_RE = /^\p{Nd}$/u;
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

function lexError(message: string): DockerfileError {
  return new DockerfileError('EXPAND', message);
}

/** Accumulates the split words of ProcessWords. */
class Words {
  private readonly words: string[] = [];
  private buf = '';
  private inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf !== '') {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }
  /** Expanded text: its whitespace splits words. */
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  /** Quoted text: kept as one piece, even if empty. */
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  done(): string[] {
    if (this.buf !== '') this.words.push(this.buf);
    this.buf = '';
    this.inWord = false;
    return this.words;
  }
}

/** Runs the lexer over one input. Not reusable: make one per call (cheap). */
class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly escape: string;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    input: string,
    private readonly lookup: VarLookup,
    private readonly opts: LexOptions,
  ) {
    this.chars = Array.from(input);
    this.escape = opts.escape ?? '\\';
    this.rawEscapes = opts.rawEscapes ?? false;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }
  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== EOF) this.pos++;
    return ch;
  }

  run(): { word: string; words: string[] } {
    return this.processStopOn(undefined, this.rawEscapes);
  }

  /** Reads until `stop` (consumed) or the end of input; `stop` missing is an error. */
  private processStopOn(stop: string | undefined, rawEscapes: boolean): { word: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      for (let ch = this.peek(); ch !== EOF; ch = this.peek()) {
        if (stop !== undefined && ch === stop) {
          this.next();
          return { word: result, words: words.done() };
        }
        const special = this.special(ch);
        if (special) {
          const text = special();
          result += text;
          // Expanded values split into words; quoted text and `<<` do not.
          if (ch === '$') words.addString(text);
          else words.addRawString(text);
          continue;
        }
        const c = this.next()!;
        if (c === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          const escaped = this.next();
          if (escaped === EOF) break; // a trailing escape character is dropped
          words.addRawChar(escaped);
          result += escaped;
        } else {
          words.addChar(c);
          result += c;
        }
      }
      if (stop !== undefined) throw lexError(`unexpected end of statement while looking for matching ${stop}`);
      return { word: result, words: words.done() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private special(ch: string): (() => string) | undefined {
    if (ch === '$') return () => this.processDollar();
    if (ch === '<') return () => this.processPossibleHeredoc();
    if (this.opts.skipProcessQuotes) return undefined;
    if (ch === "'") return () => this.processSingleQuote();
    if (ch === '"') return () => this.processDoubleQuote();
    return undefined;
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; a ' cannot be escaped inside.
    const raw = this.opts.rawQuotes === true;
    let result = raw ? this.next()! : (this.next(), '');
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw lexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return raw ? result + ch : result;
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except $ (expanded) and the escape character before " $ or itself.
    const raw = this.opts.rawQuotes === true;
    let result = raw ? this.next()! : (this.next(), '');
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) throw lexError('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.next();
        return raw ? result + ch : result;
      }
      if (ch === '$') {
        result += this.processDollar();
        continue;
      }
      let c = this.next()!;
      if (c === this.escape) {
        if (this.rawEscapes) result += c;
        const after = this.peek();
        if (after === EOF) continue; // reported as the missing quote on the next turn
        if (after === '"' || after === '$' || after === this.escape) c = this.next()!;
      }
      result += c;
    }
  }

  private getVar(name: string): string | undefined {
    const v = this.lookup(name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  private processDollar(): string {
    this.next(); // $
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getVar(name);
      if (value === undefined) return this.opts.skipUnsetEnv ? `$${name}` : '';
      return value;
    }
    this.next(); // {
    const first = this.peek();
    if (first === EOF) throw lexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw lexError('syntax error: bad substitution');
    const name = this.processName();
    let op = this.next();
    if (op === EOF) throw lexError("syntax error: missing '}'");
    if (op === '}') {
      const value = this.getVar(name);
      if (value === undefined) return this.opts.skipUnsetEnv ? `\${${name}}` : '';
      return value;
    }
    if (op === '/') return this.processReplace(name);

    let ops = op;
    let nullIsUnset = false;
    if (op === ':') {
      nullIsUnset = true;
      op = this.next();
      if (op === EOF) throw lexError("syntax error: missing '}'");
      ops += op;
    }
    if (!['+', '-', '?', '#', '%'].includes(op)) throw lexError(`unsupported modifier (${ops}) in substitution`);
    const patternOp = op === '#' || op === '%';
    if (nullIsUnset && patternOp) throw lexError(`unsupported modifier (${ops}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn('}', patternOp).word;
    } catch (e) {
      if (this.peek() === EOF) throw lexError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getVar(name);
    if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}${ops}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === '');
    switch (op) {
      case '-':
        return unset ? word : value!;
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined) throw lexError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw lexError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      default: {
        // # and ## remove the shortest/longest matching prefix, % and %% the suffix.
        const greedy = word.startsWith(op);
        const pattern = greedy ? word.slice(1) : word;
        return op === '#' ? trimPrefix(pattern, value ?? '', greedy) : trimSuffix(pattern, value ?? '', greedy);
      }
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`. */
  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn('/', true).word;
    } catch (e) {
      if (this.peek() === EOF) throw lexError("syntax error: missing '/' in ${}");
      throw e;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn('}', true).word;
    } catch (e) {
      if (this.peek() === EOF) throw lexError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getVar(name);
    if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    const re = shellPatternToRegExp(pattern, true, false, all);
    return (value ?? '').replace(re, () => replacement);
  }

  /** A variable name: letters, digits, _; or a run of digits; or one special parameter. */
  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== EOF; ch = this.peek()) {
      if (name === '' && DIGIT_RE.test(ch)) {
        while (this.peek() !== EOF && DIGIT_RE.test(this.peek()!)) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return this.next()!;
      if (!LETTER_RE.test(ch) && !DIGIT_RE.test(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  /** `<<` keeps the whitespace after it in the same word, so `<< EOF` is one heredoc word. */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    for (let ch = this.peek(); ch === '\t' || ch === '\r' || ch === ' '; ch = this.peek()) space += this.next();
    return `<<${space}`;
  }
}

/**
 * A shell pattern (`*`, `?`, `\` escapes; no bracket expressions) as a RegExp. Go's regexp and
 * JavaScript's agree on leftmost matching and lazy `*?`, which is all the trims rely on.
 */
function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') out += greedy ? '.*' : '.*?';
    else if (ch === '?') out += '.';
    else if (ch === '\\') {
      const n = chars[i + 1];
      if (n === '}' || n === '/') continue; // escaped only for the ${} syntax
      if (n !== '*' && n !== '?' && n !== '\\') throw lexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ''}'`);
      out += `\\${n}`;
      i++;
    } else if ('[]{}.+()|^$'.includes(ch)) out += `\\${ch}`;
    else out += ch;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Shortest/longest suffix: reverse value and pattern (keeping `\x` pairs) and trim a prefix. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const p = Array.from(pattern);
  const tokens: string[] = [];
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && i + 1 < p.length) {
      tokens.push(`\\${p[i + 1]}`);
      i++;
    } else tokens.push(p[i]!);
  }
  const reversedPattern = tokens.reverse().join('');
  const reversedValue = Array.from(value).reverse().join('');
  return Array.from(trimPrefix(reversedPattern, reversedValue, greedy)).reverse().join('');
}

/** Runs the lexer once. Throws DockerfileError('EXPAND') (without a location) on a syntax error. */
export function lex(input: string, lookup: VarLookup, opts: LexOptions = {}): LexResult {
  const sw = new ShellWord(input, lookup, opts);
  try {
    const { word, words } = sw.run();
    return { word, words, matched: sw.matched, unmatched: sw.unmatched };
  } catch (e) {
    if (e instanceof DockerfileError) {
      throw new DockerfileError('EXPAND', `failed to process ${JSON.stringify(input)}: ${e.detail}`);
    }
    throw e;
  }
}
