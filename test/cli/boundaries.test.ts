// The commands live in src/cli, and the library never depends on them: nothing outside src/cli
// imports from it (tests, bench and examples may).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('src/cli', () => {
  it('is imported by nothing in the library (src/, snapshot/, oci/ outside src/cli)', () => {
    const bad: string[] = [];
    for (const mod of ['src', 'snapshot', 'oci']) {
      for (const f of tsFiles(join(ROOT, mod))) {
        if (f.startsWith(join(ROOT, 'src', 'cli'))) continue;
        for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)) {
          const target = relative(ROOT, resolve(dirname(f), m[1]!));
          if (target.startsWith('src/cli/') || target === 'src/cli') bad.push(`${relative(ROOT, f)} imports ${m[1]}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
