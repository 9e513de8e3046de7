/**
 * Glob patterns as Docker uses them (Go's filepath.Match, plus `**` in .dockerignore, as moby's
 * patternmatcher): `*` and `?` never cross `/`, `[...]` classes (`!` or `^` negates), `\` escapes.
 */

/** Cleans a slash path: drops empty and `.` components, resolves `..` without going above the start. */
export function cleanSlashPath(p: string): string {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') parts.pop();
    else parts.push(c);
  }
  return parts.join('/');
}

/** True when a pattern has glob characters. */
export function hasWildcard(p: string): boolean {
  return /[*?[]/.test(p);
}

/** Compiles a pattern; with `doubleStar`, `**` matches any number of directories (`**\/` also none). */
export function globRegExp(pattern: string, opts: { doubleStar?: boolean } = {}): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (opts.doubleStar && pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('!') || cls.startsWith('^')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '\\' && i + 1 < pattern.length) {
      re += `\\${pattern[++i]}`;
    } else {
      re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`, 's');
}
