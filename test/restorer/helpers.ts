// Shared bits of the restorer tests: a counting access checker, CNB files in a temp tree, CLI capture.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReadAccessChecker } from '../../src/restorer/index.js';
import { tmpDir } from '../helpers/tmp.js';

/** Records every image asked about; answers from `readable` (or from a delegate, e.g. the real registry). */
export function countingChecker(answer: Set<string> | ReadAccessChecker): ReadAccessChecker & { calls: string[] } {
  const calls: string[] = [];
  const f = async (image: string) => {
    calls.push(image);
    return typeof answer === 'function' ? answer(image) : answer.has(image);
  };
  return Object.assign(f, { calls });
}

export interface CnbTree {
  root: string;
  layers: string;
  kaniko: string;
  analyzed: string;
  group: string;
  run: string;
}

/** `<root>/layers` (analyzed.toml, group.toml), `<root>/kaniko` (absent until someone makes it), `<root>/run.toml` (absent). */
export async function cnbTree(files: { analyzed?: string; group?: string; run?: string } = {}): Promise<CnbTree> {
  const root = await tmpDir('cnbx-restore-');
  const t: CnbTree = {
    root,
    layers: join(root, 'layers'),
    kaniko: join(root, 'kaniko'),
    analyzed: join(root, 'layers', 'analyzed.toml'),
    group: join(root, 'layers', 'group.toml'),
    run: join(root, 'run.toml'),
  };
  await mkdir(t.layers, { recursive: true });
  await writeFile(t.group, files.group ?? GROUP_WITH_EXTENSION);
  if (files.analyzed !== undefined) await writeFile(t.analyzed, files.analyzed);
  if (files.run !== undefined) await writeFile(t.run, files.run);
  return t;
}

export const GROUP_WITH_EXTENSION = `
[[group]]
id = "samples/hello"
version = "0.0.1"
api = "0.10"

[[group-extensions]]
id = "samples/curl"
version = "0.0.1"
api = "0.10"
`;

export const GROUP_WITHOUT_EXTENSIONS = `
[[group]]
id = "samples/hello"
version = "0.0.1"
api = "0.10"
`;

export function runToml(entries: { image: string; mirrors?: string[] }[]): string {
  return entries.map((e) => `[[images]]\nimage = ${JSON.stringify(e.image)}\nmirrors = ${JSON.stringify(e.mirrors ?? [])}\n`).join('\n');
}

export function analyzedToml(run: { image?: string; reference?: string; extend?: boolean; targetOs?: string }): string {
  const lines = ['[run-image]', `reference = ${JSON.stringify(run.reference ?? '')}`];
  if (run.image !== undefined) lines.push(`image = ${JSON.stringify(run.image)}`);
  if (run.extend) lines.push('extend = true');
  if (run.targetOs) lines.push('[run-image.target]', `os = ${JSON.stringify(run.targetOs)}`, 'arch = "amd64"');
  return `${lines.join('\n')}\n`;
}

export function captureIO() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => void (out += s) }, stderr: { write: (s: string) => void (err += s) } },
    out: () => out,
    err: () => err,
  };
}
