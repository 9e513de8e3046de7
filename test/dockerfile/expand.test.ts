import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileError, expand, expandWords, unsetVariables } from '../../src/dockerfile/index.js';

const VARS = new Map([
  ['A', 'a'],
  ['B', 'b c'],
  ['EMPTY', ''],
  ['HOME', '/home/cnb'],
  ['P', '/usr/local/bin'],
  ['PORTS', '8080 9090'],
  ['KOREAN', '한국어'],
]);

interface Row {
  line: number;
  mode: 'W' | 'B' | 'S' | 'K';
  input: string;
  expected: string;
}

function rows(): Row[] {
  const text = readFileSync(join(import.meta.dirname, 'expand.table'), 'utf8');
  const out: Row[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.startsWith('#') || raw.trim() === '') return;
    const cells = raw.split('|');
    if (cells.length !== 3) throw new Error(`expand.table:${i + 1}: expected 3 cells`);
    const [mode, input, expected] = cells.map((c) => c.trim().replaceAll('␣', ' ')) as [Row['mode'], string, string];
    out.push({ line: i + 1, mode, input, expected });
  });
  return out;
}

function run(r: Row): string {
  switch (r.mode) {
    case 'W':
      return expand(r.input, VARS);
    case 'B':
      return expand(r.input, VARS, { escape: '`' });
    case 'K':
      return expand(r.input, VARS, { keepQuotes: true });
    case 'S':
      return expandWords(r.input, VARS).join(',');
  }
}

describe('expand (table)', () => {
  const table = rows();
  it('has a meaningful number of rows', () => {
    expect(table.length).toBeGreaterThan(70);
  });
  it.each(table.map((r) => [`${r.line}: ${r.mode} ${r.input}`, r] as const))('%s', (_name, r) => {
    if (r.expected.startsWith('error:')) {
      let err: unknown;
      try {
        run(r);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DockerfileError);
      expect((err as DockerfileError).code).toBe('EXPAND');
      expect((err as DockerfileError).message).toContain(r.expected.slice('error:'.length).trim());
    } else {
      expect(run(r)).toBe(r.expected);
    }
  });
});

describe('expand (API)', () => {
  it('accepts a lookup function and tells unset from empty', () => {
    const lookup = (n: string) => (n === 'SET' ? '' : undefined);
    expect(expand('${SET-x}|${UNSET-x}', lookup)).toBe('|x');
  });

  it('reports the variables a word uses but nobody defined', () => {
    expect(unsetVariables('$A ${NOPE} ${ALSO:-x} "$A"', VARS).sort()).toEqual(['ALSO', 'NOPE']);
  });

  it('never evaluates commands or globs', () => {
    expect(expand('$(id) `id` *.txt ~', VARS)).toBe('$(id) `id` *.txt ~');
  });
});
