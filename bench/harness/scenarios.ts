// The scenario Dockerfiles (bench/scenarios/<name>/{Dockerfile,scenario.json}) and their contexts.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BaseName, Scenario } from './types.js';

/** The order they appear in tables and charts. */
export const SCENARIO_ORDER = ['trivial', 'write-200mb', 'files-10k', 'delete-dir', 'copy-50mb', 'five-runs', 'chown-dir'];

export function loadScenarios(dir: string): Scenario[] {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'Dockerfile')))
    .map((d) => d.name);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((name) => {
    const sdir = join(dir, name);
    const meta = existsSync(join(sdir, 'scenario.json')) ? (JSON.parse(readFileSync(join(sdir, 'scenario.json'), 'utf8')) as Partial<Scenario>) : {};
    return {
      name,
      title: meta.title ?? name,
      short: meta.short ?? name,
      dir: sdir,
      dockerfile: join(sdir, 'Dockerfile'),
      args: meta.args ?? {},
      notes: meta.notes ?? {},
      skip: meta.skip ?? {},
      ...(meta.context ? { context: meta.context } : {}),
      ...(meta.changedBytes ? { changedBytes: meta.changedBytes } : {}),
    };
  });
}

function rank(name: string): number {
  const i = SCENARIO_ORDER.indexOf(name);
  return i < 0 ? SCENARIO_ORDER.length : i;
}

export function buildArgs(s: Scenario, base: BaseName): Array<[string, string]> {
  return Object.entries(s.args[base] ?? {});
}

/**
 * The generated build contexts, made once (a marker file beside it says it is complete). Sizes are
 * fixed; the bytes are random (no seed needed: nothing compares them across runs).
 */
export function ensureContext(workDir: string, name: string): string {
  const dir = join(workDir, 'contexts', name);
  const marker = `${dir}.complete`;
  if (existsSync(marker) && existsSync(dir)) return dir;
  if (name !== 'copy-50mb') throw new Error(`unknown generated context ${name}`);
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  rmSync(tmp, { recursive: true, force: true });
  // 40 x 1 MiB of incompressible data and 1000 x 10 KiB of text in 10 directories: 50 MiB.
  mkdirSync(join(tmp, 'blobs'), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(tmp, 'blobs', `blob-${i}.bin`), randomBytes(1 << 20));
  const line = 'the quick brown fox jumps over the lazy dog 0123456789\n';
  for (let d = 0; d < 10; d++) {
    mkdirSync(join(tmp, 'src', `pkg${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) {
      const body = `// file ${d}/${f}\n${line.repeat(Math.ceil(10240 / line.length))}`.slice(0, 10240);
      writeFileSync(join(tmp, 'src', `pkg${d}`, `file${f}.txt`), body);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(workDir, 'contexts'), { recursive: true });
  renameSync(tmp, dir);
  writeFileSync(marker, '');
  return dir;
}
