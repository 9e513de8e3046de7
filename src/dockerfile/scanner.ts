import { DockerfileError, type Loc } from './errors.js';
import { lex } from './lexer.js';
import { parseJsonArgs, splitCommand, trimLeftSpace } from './words.js';

/**
 * The line level of BuildKit's parser (`parser.Parse`): parser directives, logical lines joined
 * from continuations (comment lines and blank lines inside them dropped), and here-document
 * bodies. Line numbers are 1-based and count physical lines.
 *
 * Why not dockerfile-ast for this: 0.7.1 splits instructions differently from BuildKit in the
 * cases an extension author meets (here-docs with a file descriptor `3<<EOF`, a directive after a
 * blank line, a line holding only the escape character), and it does not parse here-doc bodies or
 * exec-form JSON at all. The lifecycle's detector validates with BuildKit's parser and kaniko
 * builds with it, so the segmentation must be BuildKit's, line for line.
 */

export interface Directive {
  name: string;
  value: string;
  line: number;
}

/** A here-document attached to a RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<'EOF'`, `3<<EOF`). */
export interface Heredoc {
  /** The delimiter with quotes removed. */
  name: string;
  /** The body exactly as written, each line with its newline; leading tabs not yet stripped. */
  content: string;
  /** `<<-`: leading tabs are stripped from the body (and the terminator may be indented with tabs). */
  chomp: boolean;
  /** False when any part of the delimiter was quoted: the body is then taken literally. */
  expand: boolean;
  /** The file descriptor before `<<` (`3<<EOF`), 0 when none. */
  fd: number;
}

export interface LogicalLine {
  /** The joined line, keyword included, as BuildKit's `node.Original`. */
  text: string;
  startLine: number;
  endLine: number;
  heredocs: Heredoc[];
  /** A blank line appeared inside the continuation (BuildKit warns about this). */
  emptyContinuation: boolean;
}

export interface ScanResult {
  escape: '\\' | '`';
  directives: Directive[];
  lines: LogicalLine[];
  /** The physical lines with their line endings, for quoting source text. */
  source: string[];
}

const DIRECTIVE_RE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const HEREDOC_WORD_RE = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const HEREDOC_KEYWORDS = new Set(['run', 'copy', 'add']);

function physicalLines(text: string): string[] {
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  if (lines[0]?.startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  return lines;
}

const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, '');
const isComment = (raw: string): boolean => trimLeftSpace(trimNewline(raw)).startsWith('#');

function continuationRegExp(escape: string): RegExp {
  const e = `\\${escape}`;
  // The escape character as the last non-blank character continues the line, unless it is itself
  // escaped; alone on a line it continues too.
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

/** Parser directives: only at the very top, before any blank line, comment or instruction. */
class DirectiveParser {
  done = false;
  private readonly seen = new Set<string>();
  readonly found: Directive[] = [];

  /** `line` is already left-trimmed and without its newline. */
  parse(line: string, lineNo: number, file: string | undefined): Directive | undefined {
    if (this.done) return undefined;
    if (!line.startsWith('#')) {
      this.done = true;
      return undefined;
    }
    const m = DIRECTIVE_RE.exec(trimLeftSpace(line.slice(1)));
    const name = m?.[1]?.toLowerCase();
    if (!m || !name || !KNOWN_DIRECTIVES.has(name)) {
      this.done = true;
      return undefined;
    }
    const loc: Loc = { file, line: lineNo, endLine: lineNo };
    if (this.seen.has(name)) {
      throw new DockerfileError('DIRECTIVE', `only one ${name} parser directive can be used`, {
        loc,
        hint: 'remove the repeated directive',
      });
    }
    this.seen.add(name);
    const d = { name, value: m[2]!, line: lineNo };
    this.found.push(d);
    return d;
  }
}

/** The here-doc words on an instruction line, in order (BuildKit heredocsFromLine). */
function heredocsOnLine(line: string, loc: Loc): Array<Omit<Heredoc, 'content'>> {
  let words: string[];
  try {
    words = lex(line, () => undefined, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).words;
  } catch {
    return []; // as BuildKit: a line the lexer cannot split has no here-docs
  }
  const docs: Array<Omit<Heredoc, 'content'>> = [];
  for (const w of words) {
    const h = parseHeredocWord(w, loc);
    if (h) docs.push(h);
  }
  return docs;
}

/** `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF` → the here-doc it opens; anything else → undefined. */
export function parseHeredocWord(word: string, loc?: Loc): Omit<Heredoc, 'content'> | undefined {
  const m = HEREDOC_WORD_RE.exec(word);
  if (!m || m[3] === '') return undefined;
  const rest = m[3]!;
  const none = (): undefined => undefined;
  let plain: string[];
  let raw: string[];
  try {
    plain = lex(rest, none, { skipUnsetEnv: true }).words;
    if (plain.length !== 1) return undefined;
    raw = lex(rest, none, { skipUnsetEnv: true, rawQuotes: true }).words;
  } catch (e) {
    throw new DockerfileError('HEREDOC', `bad here-document delimiter ${JSON.stringify(rest)}`, {
      ...(loc ? { loc } : {}),
      hint: 'quote the delimiter with matching quotes',
    }, { cause: e });
  }
  if (raw.length !== 1) return undefined;
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  return {
    name: plain[0]!,
    chomp: m[2] === '-',
    expand: quotes(plain[0]!) === quotes(raw[0]!),
    fd: m[1] ? Number.parseInt(m[1], 10) || 0 : 0,
  };
}

/** RUN, COPY and ADD (also as ONBUILD triggers) may carry here-docs, but not in JSON form. */
function canContainHeredoc(line: string, escape: string): boolean {
  let { keyword, rest } = splitCommand(line, escape);
  if (keyword.toLowerCase() === 'onbuild') ({ keyword, rest } = splitCommand(rest, escape));
  if (!HEREDOC_KEYWORDS.has(keyword.toLowerCase())) return false;
  return parseJsonArgs(rest).kind !== 'json';
}

export function scanDockerfile(text: string, file?: string): ScanResult {
  const source = physicalLines(text);
  const directives = new DirectiveParser();
  let escape: '\\' | '`' = '\\';
  let continuation = continuationRegExp(escape);
  const out: LogicalLine[] = [];

  const trimContinuation = (s: string): { text: string; ends: boolean } =>
    continuation.test(s) ? { text: s.replace(continuation, '$1'), ends: false } : { text: s, ends: true };

  let i = 0; // index of the next physical line; after reading line i, its 1-based number is i
  while (i < source.length) {
    const raw = source[i++]!;
    const line = trimLeftSpace(trimNewline(raw));
    const d = directives.parse(line, i, file);
    if (d?.name === 'escape') {
      if (d.value !== '`' && d.value !== '\\') {
        throw new DockerfileError('DIRECTIVE', `invalid escape token '${d.value}' does not match \` or \\`, {
          loc: { file, line: i, endLine: i },
          hint: 'use "# escape=\\" or "# escape=`"',
        });
      }
      escape = d.value;
      continuation = continuationRegExp(escape);
    }
    const startLine = i;
    const first = trimContinuation(isComment(raw) ? '' : line);
    if (first.ends && first.text === '') continue;
    let joined = first.text;
    let ends = first.ends;
    let emptyContinuation = false;
    while (!ends && i < source.length) {
      const next = source[i++]!;
      if (isComment(next)) continue;
      const body = trimNewline(next);
      if (trimLeftSpace(body) === '') {
        emptyContinuation = true;
        continue;
      }
      const t = trimContinuation(body);
      joined += t.text;
      ends = t.ends;
    }

    const heredocs: Heredoc[] = [];
    if (joined.includes('<<') && canContainHeredoc(joined, escape)) {
      for (const h of heredocsOnLine(joined, { file, line: startLine, endLine: i })) {
        let content = '';
        let terminated = false;
        while (i < source.length) {
          const bodyLine = source[i++]!;
          let candidate = trimNewline(bodyLine);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += bodyLine;
        }
        if (!terminated) {
          throw new DockerfileError('HEREDOC', `unterminated heredoc: no line "${h.name}" closes it`, {
            loc: { file, line: startLine, endLine: i },
            hint: `end the here-document with a line holding only ${h.name}${h.chomp ? ' (tabs before it are allowed)' : ''}`,
          });
        }
        heredocs.push({ ...h, content });
      }
    }
    out.push({ text: joined, startLine, endLine: i, heredocs, emptyContinuation });
  }
  return { escape, directives: directives.found, lines: out, source };
}
