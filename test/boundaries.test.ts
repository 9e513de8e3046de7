import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

// The module rules of docs/design/contracts.md: src → snapshot → oci, src → oci; across modules only
// through the other module's index.ts; oci/ imports nothing of ours.
const ROOT = resolve(import.meta.dirname, '..');
const MODULES = ['oci', 'snapshot', 'src'] as const;
type Module = (typeof MODULES)[number];
const ALLOWED: Record<Module, Module[]> = { oci: [], snapshot: ['oci'], src: ['snapshot', 'oci'] };

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function violations(): string[] {
  const found: string[] = [];
  for (const mod of MODULES) {
    for (const file of tsFiles(join(ROOT, mod))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(IMPORT_RE)) {
        const spec = m[1] ?? m[2]!;
        if (!spec.startsWith('.')) continue;
        const target = relative(ROOT, resolve(dirname(file), spec));
        const targetMod = target.split('/')[0] as Module;
        const where = `${relative(ROOT, file)} imports ${spec}`;
        if (targetMod === mod) continue;
        if (!MODULES.includes(targetMod)) {
          found.push(`${where}: outside the modules`);
        } else if (!ALLOWED[mod].includes(targetMod)) {
          found.push(`${where}: ${mod}/ may not import ${targetMod}/`);
        } else if (target !== `${targetMod}/index.js`) {
          found.push(`${where}: import ${targetMod}/index.js, not a deep path`);
        }
      }
    }
  }
  return found;
}

describe('module boundaries', () => {
  it('imports flow src → snapshot → oci, through index.ts only', () => {
    expect(violations()).toEqual([]);
  });

  it('the checker catches a deep or upward import', () => {
    const samples = [
      { file: 'oci/x.ts', spec: '../snapshot/index.js' },
      { file: 'src/x.ts', spec: '../oci/layout.js' },
    ];
    for (const s of samples) {
      const target = relative(ROOT, resolve(dirname(join(ROOT, s.file)), s.spec));
      const mod = s.file.split('/')[0] as Module;
      const tmod = target.split('/')[0] as Module;
      const ok = ALLOWED[mod].includes(tmod) && target === `${tmod}/index.js`;
      expect(ok).toBe(false);
    }
  });
});
