// A lifecycle working tree for extender tests: <layers>/{analyzed,group}.toml, <generated>, <app>, <kaniko>.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { escapeID } from '../../../src/cnb/index.js';
import { tmpDir } from '../../helpers/tmp.js';

export interface Tree {
  root: string;
  layers: string;
  app: string;
  platform: string;
  kaniko: string;
  generated: string;
  extended: string;
}

export async function makeTree(): Promise<Tree> {
  const root = await tmpDir('cnbx-ext-');
  const t: Tree = {
    root,
    layers: join(root, 'layers'),
    app: join(root, 'workspace'),
    platform: join(root, 'platform'),
    kaniko: join(root, 'kaniko'),
    generated: join(root, 'layers', 'generated'),
    extended: join(root, 'layers', 'extended'),
  };
  for (const d of [t.layers, t.app, t.platform, t.kaniko]) await mkdir(d, { recursive: true });
  return t;
}

export async function put(path: string, text: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return path;
}

export async function writeGroup(t: Tree, exts: { id: string; api?: string; version?: string }[]): Promise<void> {
  const body = exts.map((e) => `[[group-extensions]]\nid = "${e.id}"\nversion = "${e.version ?? '0.0.1'}"\napi = "${e.api ?? '0.9'}"\n`).join('');
  await put(join(t.layers, 'group.toml'), `[[group]]\nid = "bp"\nversion = "1"\napi = "0.10"\n${body}`);
}

export async function writeAnalyzed(t: Tree, refs: { build?: string; run?: string; extend?: boolean }): Promise<void> {
  let s = '';
  if (refs.build !== undefined) s += `[build-image]\nreference = "${refs.build}"\n`;
  if (refs.run !== undefined) s += `[run-image]\nreference = "${refs.run}"\nimage = "registry.example.com/run:latest"\nextend = ${refs.extend ?? true}\n`;
  await put(join(t.layers, 'analyzed.toml'), s);
}

/** A Dockerfile at the right place for the Platform API (new layout from 0.13). */
export async function writeDockerfile(t: Tree, api: string, kind: 'build' | 'run', id: string, text: string, opts: { args?: { name: string; value: string }[]; contexts?: Record<string, Record<string, string>> } = {}): Promise<string> {
  const newLayout = Number(api.split('.')[1]) >= 13;
  const dir = newLayout ? join(t.generated, escapeID(id)) : join(t.generated, kind, escapeID(id));
  const path = await put(join(dir, newLayout ? `${kind}.Dockerfile` : 'Dockerfile'), text);
  if (opts.args) {
    const body = opts.args.map((a) => `[[${kind}.args]]\nname = "${a.name}"\nvalue = "${a.value}"\n`).join('');
    await put(join(dir, 'extend-config.toml'), body);
  }
  for (const [ctxName, files] of Object.entries(opts.contexts ?? {})) {
    for (const [f, content] of Object.entries(files)) await put(join(dir, ctxName, f), content);
  }
  return path;
}
