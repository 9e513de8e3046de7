import { cleanSlashPath, globRegExp } from './glob.js';

/**
 * `.dockerignore` semantics (as moby's patternmatcher): one pattern per line, `#` comments, `!`
 * re-includes, the last matching pattern wins, `*` and `?` do not cross `/`, `**` matches any number
 * of directories, and a pattern that matches a directory excludes everything below it.
 */
interface Pattern {
  negate: boolean;
  re: RegExp;
  /** Number of path components of the pattern, to test parent directories. */
  depth: number;
}

/** Parses the text of a .dockerignore file. */
export function parseDockerignore(text: string): Pattern[] {
  const out: Pattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1).trim();
    }
    const cleaned = cleanSlashPath(line);
    if (cleaned === '') continue;
    out.push({ negate, re: globRegExp(cleaned, { doubleStar: true }), depth: cleaned.split('/').length });
  }
  return out;
}

/** A predicate telling whether a context-relative path (no leading slash) is excluded. */
export class IgnoreMatcher {
  private readonly patterns: Pattern[];
  constructor(patterns: Pattern[]) {
    this.patterns = patterns;
  }
  static fromText(text: string): IgnoreMatcher {
    return new IgnoreMatcher(parseDockerignore(text));
  }
  /** A matcher with extra patterns after these (e.g. COPY --exclude). */
  extend(patterns: readonly string[]): IgnoreMatcher {
    return new IgnoreMatcher([...this.patterns, ...parseDockerignore(patterns.join('\n'))]);
  }
  get empty(): boolean {
    return this.patterns.length === 0;
  }
  /** True when `rel` is excluded from the context. */
  excludes(rel: string): boolean {
    const parts = rel.split('/').filter((c) => c !== '' && c !== '.');
    const path = parts.join('/');
    let excluded = false;
    for (const p of this.patterns) {
      let match = p.re.test(path);
      if (!match && parts.length > p.depth) match = p.re.test(parts.slice(0, p.depth).join('/'));
      if (match) excluded = !p.negate;
    }
    return excluded;
  }
  /**
   * True when nothing below directory `rel` can be re-included, so a walk may skip it whole.
   * Conservative: any negated pattern keeps the walk going.
   */
  excludesWholeDir(rel: string): boolean {
    return this.excludes(rel) && !this.patterns.some((p) => p.negate);
  }
}
