import { isSpace } from './lexer.js';

/**
 * Parser-level splitting, done before any expansion (BuildKit `parser/line_parsers.go`). Quotes and
 * escapes are *kept* here; the lexer removes them later when the instruction is expanded.
 */

/** BuildKit's reWhitespace: the separators of whitespace-delimited instructions (no newline). */
export const WHITESPACE_RE = /[\t\v\f\r ]+/;

/** Splits on runs of [\t\v\f\r ] (FROM, EXPOSE, COPY/ADD/VOLUME shell form). */
export function splitWhitespace(s: string): string[] {
  return s === '' ? [] : s.split(WHITESPACE_RE);
}

/** Go's strings.TrimSpace. */
export function trimSpace(s: string): string {
  const chars = Array.from(s);
  let a = 0;
  let b = chars.length;
  while (a < b && isSpace(chars[a]!)) a++;
  while (b > a && isSpace(chars[b - 1]!)) b--;
  return chars.slice(a, b).join('');
}

/** Go's strings.TrimLeftFunc(s, unicode.IsSpace). */
export function trimLeftSpace(s: string): string {
  const chars = Array.from(s);
  let a = 0;
  while (a < chars.length && isSpace(chars[a]!)) a++;
  return chars.slice(a).join('');
}

/** One whitespace-separated word of a line, as scanWords finds it. */
interface ScannedWord {
  text: string;
  /** Where the word starts and ends (the separator after it, or the end), in code points. */
  start: number;
  end: number;
  /** BuildKit's `blankOK || word != ""`: a word that held quotes counts even when empty. */
  counts: boolean;
}

/**
 * How a scan treats quotes and escapes. BuildKit's parseWords keeps them (the lexer removes them
 * later) and honours an escape inside double quotes only; extractBuilderFlags removes them, and an
 * escape works inside either kind of quote.
 */
interface QuoteRules {
  keepQuoting: boolean;
  escapeInSingleQuotes: boolean;
}

const WORD_RULES: QuoteRules = { keepQuoting: true, escapeInSingleQuotes: false };
const FLAG_RULES: QuoteRules = { keepQuoting: false, escapeInSingleQuotes: true };

/**
 * The words of `chars` separated by unquoted whitespace: the state machine BuildKit's parseWords
 * and extractBuilderFlags share. An escape at the very end of the line is dropped; an unterminated
 * quote runs to the end. Lazy, so a caller can stop at a word and take the rest of the line.
 */
function* scanWords(chars: readonly string[], escape: string, rules: QuoteRules): Generator<ScannedWord> {
  const keep = (s: string) => (rules.keepQuoting ? s : '');
  let i = 0;
  while (i < chars.length) {
    if (isSpace(chars[i]!)) {
      i++;
      continue;
    }
    const start = i;
    let text = '';
    let quoted = false;
    let quote = ''; // the open quote, '' outside quotes
    for (; i < chars.length; i++) {
      const ch = chars[i]!;
      if (quote === '') {
        if (isSpace(ch)) break;
        if (ch === "'" || ch === '"') {
          quote = ch;
          quoted = true;
          text += keep(ch);
          continue;
        }
      } else if (ch === quote) {
        quote = '';
        text += keep(ch);
        continue;
      }
      if (ch === escape && (quote !== "'" || rules.escapeInSingleQuotes)) {
        if (i + 1 === chars.length) continue; // an escape at the very end is dropped
        // The escape and the character after it are kept together, even a quote or a blank.
        text += keep(ch) + chars[++i]!;
        continue;
      }
      text += ch;
    }
    yield { text, start, end: i, counts: quoted || text !== '' };
  }
}

/**
 * Words separated by unquoted whitespace, quotes and escapes kept (`a="b c" d` → [`a="b c"`, `d`]).
 * Used by ENV, LABEL and ARG.
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  for (const w of scanWords(Array.from(rest), escape, WORD_RULES)) if (w.counts) words.push(w.text);
  return words;
}

/**
 * Leading `--name[=value]` words (quotes removed), and the rest of the line after them. A bare
 * `--` ends the flags. Every instruction goes through this, as in BuildKit.
 */
export function extractFlags(line: string, escape: string): { flags: string[]; rest: string } {
  const chars = Array.from(line);
  const flags: string[] = [];
  for (const w of scanWords(chars, escape, FLAG_RULES)) {
    if (chars[w.start] !== '-' || chars[w.start + 1] !== '-') return { flags, rest: chars.slice(w.start).join('') };
    if (w.text === '--') return { flags, rest: chars.slice(w.end).join('') };
    if (w.counts) flags.push(w.text);
  }
  return { flags, rest: '' };
}

/** The keyword, its flags and its trimmed arguments (BuildKit splitCommand). */
export function splitCommand(line: string, escape: string): { keyword: string; flags: string[]; rest: string } {
  const trimmed = trimSpace(line);
  const m = WHITESPACE_RE.exec(trimmed);
  if (!m) return { keyword: trimmed, flags: [], rest: '' };
  const keyword = trimmed.slice(0, m.index);
  const { flags, rest } = extractFlags(trimmed.slice(m.index + m[0].length), escape);
  return { keyword, flags, rest: trimSpace(rest) };
}

export type JsonArgs = { kind: 'json'; args: string[] } | { kind: 'not-json' } | { kind: 'not-strings' };

/**
 * The exec (JSON) form: a JSON array of strings. Anything that does not parse as JSON falls back
 * to the shell form, like Docker; a JSON array holding non-strings is an error there.
 */
export function parseJsonArgs(rest: string): JsonArgs {
  const text = trimLeftSpace(rest);
  if (!text.startsWith('[')) return { kind: 'not-json' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'not-json' };
  }
  if (!Array.isArray(value)) return { kind: 'not-json' };
  if (!value.every((v): v is string => typeof v === 'string')) return { kind: 'not-strings' };
  return { kind: 'json', args: value };
}
