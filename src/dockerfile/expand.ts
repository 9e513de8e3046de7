import { lex, type VarLookup } from './lexer.js';

/** Variables for expansion: a map, or a lookup returning undefined for unset. */
export type Vars = ReadonlyMap<string, string> | VarLookup;

export interface ExpandOptions {
  /** The Dockerfile's escape character (`# escape=`), backslash by default. */
  escape?: string;
  /**
   * Keep quote characters as written (BuildKit SkipProcessQuotes). Used for the bodies of unquoted
   * COPY/ADD here-docs, where `"` is file content, not syntax.
   */
  keepQuotes?: boolean;
}

function lookupOf(vars: Vars): VarLookup {
  return typeof vars === 'function' ? vars : (name) => vars.get(name);
}

/**
 * Expands one word the way Docker expands ENV, LABEL, ARG, USER, WORKDIR, VOLUME, STOPSIGNAL and
 * COPY/ADD arguments (BuildKit ProcessWord): `$A`, `${A}`, `${A:-x}`, `${A-x}`, `${A:+x}`,
 * `${A+x}`, `${A:?msg}`, `${A#p}`, `${A%p}`, `${A/p/r}`; quotes removed, whitespace kept; unset
 * variables expand to "". Throws DockerfileError('EXPAND') without a location (the caller adds it).
 */
export function expand(word: string, vars: Vars, opts: ExpandOptions = {}): string {
  return lex(word, lookupOf(vars), {
    escape: opts.escape ?? '\\',
    ...(opts.keepQuotes ? { skipProcessQuotes: true } : {}),
  }).word;
}

/** Expands, then splits on unquoted whitespace (BuildKit ProcessWords; EXPOSE uses this). */
export function expandWords(word: string, vars: Vars, opts: ExpandOptions = {}): string[] {
  return lex(word, lookupOf(vars), {
    escape: opts.escape ?? '\\',
    ...(opts.keepQuotes ? { skipProcessQuotes: true } : {}),
  }).words;
}

/** The variable names a word refers to that `vars` does not define (for diagnostics). */
export function unsetVariables(word: string, vars: Vars, opts: ExpandOptions = {}): string[] {
  return [...lex(word, lookupOf(vars), { escape: opts.escape ?? '\\' }).unmatched];
}
