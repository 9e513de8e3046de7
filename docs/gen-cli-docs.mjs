#!/usr/bin/env node
// Regenerates the flag tables of docs/cli.md from the commands' own `-help` output, so the
// reference cannot drift from the code. Run after `npm run build`:
//   node docs/gen-cli-docs.mjs           rewrite the tables in docs/cli.md
//   node docs/gen-cli-docs.mjs --check   exit 1 (naming the stale commands) if docs/cli.md is out of date
// Each table sits between `<!-- flags:<command>:begin -->` and `<!-- flags:<command>:end -->`.
// The help is taken in a clean environment (no CNB_* or CNBX_* variables), so the defaults shown
// are the built-in ones; the lifecycle phases show the flags of their newest Platform API.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = join(ROOT, 'docs', 'cli.md');
const BIN = join(ROOT, 'dist', 'src', 'cli', 'bin.js');
export const COMMANDS = ['apply', 'lint', 'extender', 'restore', 'export', 'demo'];

/** The `-help` text of one command (stdout and stderr: the lifecycle phases print usage on stderr, as Go does). */
const helps = new Map();
export function helpOf(command) {
  if (helps.has(command)) return helps.get(command);
  const r = spawnSync(process.execPath, [BIN, command, '-help'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  if (r.status !== 0) throw new Error(`${command} -help exited ${r.status}: ${r.stderr}`);
  helps.set(command, `${r.stdout}${r.stderr}`);
  return helps.get(command);
}

/** Go's PrintDefaults layout → [{ name, type, def, usage }]. */
export function parseFlags(help) {
  const flags = [];
  const lines = help.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {2}-([\w-]+)(?: (\w+))?(?:\t(.*))?$/.exec(lines[i]);
    if (!m) continue;
    let usage = m[3] ?? '';
    while (i + 1 < lines.length && lines[i + 1].startsWith('    \t')) usage += (usage ? ' ' : '') + lines[++i].slice(5);
    let def = '';
    const d = / \(default (".*"|[^)]*)\)$/.exec(usage);
    if (d) {
      def = d[1].startsWith('"') ? JSON.parse(d[1]) : d[1];
      usage = usage.slice(0, d.index);
    }
    flags.push({ name: m[1], type: m[2] ?? 'bool', def, usage });
  }
  return flags;
}

const cell = (s) => s.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

export function table(command, help) {
  const usage = /^Usage: (.*)$/m.exec(help)?.[1];
  const rows = parseFlags(help).map((f) => `| \`-${f.name}\` | ${f.type} | ${f.def === '' ? '' : `\`${f.def}\``} | ${cell(f.usage)} |`);
  return [
    ...(usage ? [`\`${usage}\``, ''] : []),
    '| Flag | Type | Default | Description |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** docs/cli.md with every table regenerated; the list of commands whose table changed. */
export function regenerate(text) {
  const stale = [];
  let out = text;
  for (const c of COMMANDS) {
    const begin = `<!-- flags:${c}:begin -->`;
    const end = `<!-- flags:${c}:end -->`;
    const a = out.indexOf(begin);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`docs/cli.md lacks the markers ${begin} … ${end}`);
    const fresh = `${begin}\n${table(c, helpOf(c))}\n${end}`;
    if (out.slice(a, b + end.length) !== fresh) stale.push(c);
    out = out.slice(0, a) + fresh + out.slice(b + end.length);
  }
  return { text: out, stale };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const { text, stale } = regenerate(readFileSync(DOC, 'utf8'));
  if (check) {
    if (stale.length > 0) {
      console.error(`docs/cli.md is stale for: ${stale.join(', ')}. Run: npm run build && node docs/gen-cli-docs.mjs`);
      process.exit(1);
    }
  } else {
    writeFileSync(DOC, text);
    console.log(stale.length > 0 ? `docs/cli.md: updated ${stale.join(', ')}` : 'docs/cli.md: up to date');
  }
}
