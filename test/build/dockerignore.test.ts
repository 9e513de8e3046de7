import { describe, expect, it } from 'vitest';
import { IgnoreMatcher } from '../../src/build/dockerignore.js';

describe('.dockerignore matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['*.md', 'README.md', true],
    ['*.md', 'docs/README.md', false],
    ['**/*.md', 'docs/README.md', true],
    ['**/*.md', 'README.md', true],
    ['node_modules', 'node_modules/x/y.js', true],
    ['/node_modules', 'node_modules', true],
    ['./build/', 'build/out.o', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['[a-c]x', 'bx', true],
    ['[!a-c]x', 'bx', false],
    ['docs/**', 'docs/a/b/c', true],
    ['temp*', 'temporary/file', true],
    ['x/*/z', 'x/y/z', true],
    ['x/*/z', 'x/y/w/z', false],
  ];
  it.each(cases)('%s vs %s → %s', (pattern, path, want) => {
    expect(IgnoreMatcher.fromText(pattern).excludes(path)).toBe(want);
  });

  it('the last matching pattern wins, and ! re-includes', () => {
    const m = IgnoreMatcher.fromText('# comment\n*.md\n!README.md\n\n');
    expect(m.excludes('CHANGES.md')).toBe(true);
    expect(m.excludes('README.md')).toBe(false);
    const m2 = IgnoreMatcher.fromText('!README.md\n*.md');
    expect(m2.excludes('README.md')).toBe(true);
  });

  it('a negation keeps directory walks going', () => {
    const m = IgnoreMatcher.fromText('docs\n!docs/keep.txt');
    expect(m.excludes('docs/other.txt')).toBe(true);
    expect(m.excludes('docs/keep.txt')).toBe(false);
    expect(m.excludesWholeDir('docs')).toBe(false);
    expect(IgnoreMatcher.fromText('docs').excludesWholeDir('docs')).toBe(true);
  });
});
