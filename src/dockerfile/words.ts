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

/**
 * Words separated by unquoted whitespace, quotes and escapes kept (`a="b c" d` → [`a="b c"`, `d`]).
 * Used by ENV, LABEL and ARG.
 */
export function parseWords(rest: string, escape: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let word = '';
  let blankOK = false;
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  for (let i = 0; i <= chars.length; i++) {
    const atEnd = i === chars.length;
    let ch = chars[i] ?? '';
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (atEnd) {
      if (blankOK || word !== '') words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word !== '') words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (i + 1 === chars.length) continue; // an escape at the very end is dropped
        // Outside quotes the escape and the character after it are kept together, even a quote.
        word += ch;
        i++;
        ch = chars[i]!;
      }
      word += ch;
      continue;
    }
    // phase === 'quote'
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      word += ch;
      i++;
      ch = chars[i]!;
    }
    word += ch;
  }
  return words;
}

/**
 * Leading `--name[=value]` words (quotes removed), and the rest of the line after them. A bare
 * `--` ends the flags. Every instruction goes through this, as in BuildKit.
 */
export function extractFlags(line: string, escape: string): { flags: string[]; rest: string } {
  const chars = Array.from(line);
  const flags: string[] = [];
  let word = '';
  let blankOK = false;
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  for (let i = 0; i <= chars.length; i++) {
    const atEnd = i === chars.length;
    let ch = chars[i] ?? '';
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || chars[i + 1] !== '-') return { flags, rest: chars.slice(i).join('') };
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOK || word !== '')) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { flags, rest: chars.slice(i).join('') };
        if (blankOK || word !== '') flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === escape) {
        if (i + 1 === chars.length) continue;
        i++;
        ch = chars[i]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === escape) {
      if (i + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      i++;
      ch = chars[i]!;
    }
    word += ch;
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
