import { parseGoDuration } from './duration.js';
import { DockerfileError, type Loc } from './errors.js';
import { parseFlags, type FlagSpec, type ParsedFlags } from './flags.js';
import { parseHeredocWord, type Heredoc, type LogicalLine } from './scanner.js';
import {
  KEYWORDS,
  type CommandLine,
  type HealthcheckOptions,
  type InlineSource,
  type Instruction,
  type KeyValue,
  type Keyword,
} from './types.js';
import { parseJsonArgs, parseWords, splitCommand, splitWhitespace, trimSpace, WHITESPACE_RE } from './words.js';

/**
 * Logical line → typed instruction (BuildKit `parser/line_parsers.go` + `instructions/parse.go`).
 * Error texts follow BuildKit's where it has them, with the location and a hint added.
 */

interface Ctx {
  loc: Loc;
  escape: string;
  keyword: Keyword;
  original: string;
  source: string;
  heredocs: Heredoc[];
}

export function toInstruction(line: LogicalLine, escape: string, source: string, file?: string): Instruction {
  const loc: Loc = { ...(file !== undefined ? { file } : {}), line: line.startLine, endLine: line.endLine };
  return build(line.text, { loc, escape, source, heredocs: line.heredocs });
}

function build(text: string, base: Omit<Ctx, 'keyword' | 'original'>): Instruction {
  const { keyword: written, flags, rest } = splitCommand(text, base.escape);
  const keyword = written.toUpperCase() as Keyword;
  if (!KEYWORDS.includes(keyword)) throw unknownInstruction(written, base.loc);
  const c: Ctx = { ...base, keyword, original: trimSpace(text) };
  const common = { loc: c.loc, original: c.original, source: c.source };
  const f = (spec: FlagSpec): ParsedFlags => parseFlags(keyword, flags, spec, c.loc);

  switch (keyword) {
    case 'FROM': {
      const fl = f({ platform: 'string' });
      const args = splitWhitespace(rest);
      let stageName: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        stageName = args[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(stageName)) {
          fail(c, 'SYNTAX', `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) {
        fail(c, 'SYNTAX', 'FROM requires either one or three arguments', 'write FROM <image> [AS <name>]');
      }
      return {
        kind: 'FROM',
        ...common,
        image: args[0]!,
        ...(stageName !== undefined ? { stageName } : {}),
        ...(fl.values.has('platform') ? { platform: fl.values.get('platform')! } : {}),
      };
    }
    case 'ARG': {
      f({});
      const words = parseWords(rest, c.escape);
      if (words.length === 0) fail(c, 'SYNTAX', 'ARG requires at least one argument', 'write ARG <name>[=<default>]');
      const args = words.map((w) => {
        const eq = w.indexOf('=');
        if (eq === 0) fail(c, 'SYNTAX', 'ARG names can not be blank');
        return eq < 0 ? { name: w } : { name: w.slice(0, eq), value: w.slice(eq + 1) };
      });
      return { kind: 'ARG', ...common, args };
    }
    case 'ENV':
    case 'LABEL': {
      f({});
      const { pairs, legacy } = nameValues(rest, c);
      return keyword === 'ENV' ? { kind: 'ENV', ...common, pairs, legacy } : { kind: 'LABEL', ...common, pairs, legacy };
    }
    case 'RUN': {
      const fl = f({ mount: 'strings', network: 'string' });
      const network = fl.values.get('network');
      if (network !== undefined && network !== 'default' && network !== 'none' && network !== 'host') {
        fail(c, 'FLAG', `invalid network mode ${JSON.stringify(network)}`, 'use --network=default, none or host');
      }
      return {
        kind: 'RUN',
        ...common,
        cmd: commandLine(rest, c),
        heredocs: c.heredocs,
        mounts: fl.lists.get('mount') ?? [],
        ...(network !== undefined ? { network: network as 'default' | 'none' | 'host' } : {}),
      };
    }
    case 'COPY':
    case 'ADD':
      return copyOrAdd(rest, c, flags);
    case 'USER':
      f({});
      return { kind: 'USER', ...common, user: exactlyOne(rest, c) };
    case 'WORKDIR':
      f({});
      return { kind: 'WORKDIR', ...common, path: exactlyOne(rest, c) };
    case 'MAINTAINER':
      f({});
      return { kind: 'MAINTAINER', ...common, maintainer: exactlyOne(rest, c) };
    case 'STOPSIGNAL':
      f({});
      return { kind: 'STOPSIGNAL', ...common, signal: exactlyOne(rest, c) };
    case 'SHELL': {
      f({});
      const json = parseJsonArgs(rest);
      if (json.kind === 'not-strings') failNotStrings(c);
      if (rest === '' || (json.kind === 'json' && json.args.length === 0)) {
        fail(c, 'SYNTAX', 'SHELL requires at least one argument', 'write SHELL ["/bin/sh", "-c"]');
      }
      if (json.kind !== 'json') fail(c, 'SYNTAX', 'SHELL requires the arguments to be in JSON form', 'write SHELL ["/bin/bash", "-c"]');
      return { kind: 'SHELL', ...common, argv: json.kind === 'json' ? json.args : [] };
    }
    case 'CMD':
      f({});
      return { kind: 'CMD', ...common, cmd: commandLine(rest, c) };
    case 'ENTRYPOINT':
      f({});
      return { kind: 'ENTRYPOINT', ...common, cmd: commandLine(rest, c) };
    case 'EXPOSE': {
      f({});
      const ports = splitWhitespace(rest);
      if (ports.length === 0) fail(c, 'SYNTAX', 'EXPOSE requires at least one argument', 'write EXPOSE <port>[/<protocol>]');
      return { kind: 'EXPOSE', ...common, ports };
    }
    case 'VOLUME': {
      f({});
      const paths = list(rest, c).map((p) => trimSpace(p));
      if (paths.length === 0) fail(c, 'SYNTAX', 'VOLUME requires at least one argument');
      if (paths.some((p) => p === '')) fail(c, 'SYNTAX', 'VOLUME specified can not be an empty string');
      return { kind: 'VOLUME', ...common, paths };
    }
    case 'HEALTHCHECK':
      return healthcheck(rest, c, f({ interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' }));
    case 'ONBUILD': {
      f({});
      if (rest === '') fail(c, 'SYNTAX', 'ONBUILD requires at least one argument');
      const triggerWritten = splitCommand(rest, c.escape).keyword;
      const trigger = triggerWritten.toUpperCase() as Keyword;
      if (trigger === 'ONBUILD') fail(c, 'SYNTAX', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'FROM' || trigger === 'MAINTAINER') fail(c, 'SYNTAX', `${trigger} isn't allowed as an ONBUILD trigger`);
      if (!KEYWORDS.includes(trigger)) throw unknownInstruction(triggerWritten, c.loc);
      let expression = c.original.replace(/^\s*ONBUILD\s*/i, '');
      for (const h of c.heredocs) expression += `\n${h.content}${h.name}`;
      return { kind: 'ONBUILD', ...common, expression, trigger };
    }
  }
}

function fail(c: Ctx, code: 'SYNTAX' | 'FLAG' | 'HEREDOC' | 'UNSUPPORTED', detail: string, hint?: string): never {
  throw new DockerfileError(code, detail, { loc: c.loc, ...(hint ? { hint } : {}) });
}

function failNotStrings(c: Ctx): never {
  fail(c, 'SYNTAX', 'when using JSON array syntax, arrays must be comprised of strings only', 'quote every element, e.g. ["sleep", "10"]');
}

function exactlyOne(rest: string, c: Ctx): string {
  if (rest === '') fail(c, 'SYNTAX', `${c.keyword} requires exactly one argument`);
  return rest;
}

/** RUN, CMD, ENTRYPOINT: exec form if the arguments parse as a JSON string array, else shell form. */
function commandLine(rest: string, c: Ctx): CommandLine {
  if (rest === '') return { form: 'shell', command: '' };
  const json = parseJsonArgs(rest);
  if (json.kind === 'not-strings') failNotStrings(c);
  return json.kind === 'json' ? { form: 'exec', argv: json.args } : { form: 'shell', command: rest };
}

/** COPY, ADD, VOLUME: a JSON string array, or whitespace-separated words. */
function list(rest: string, c: Ctx): string[] {
  const json = parseJsonArgs(rest);
  if (json.kind === 'not-strings') failNotStrings(c);
  return json.kind === 'json' ? json.args : splitWhitespace(rest);
}

/**
 * ENV and LABEL: `k=v k2="v 2"` (quotes kept for the expansion step), or the legacy `k v w` where
 * the value is the rest of the line. The first word decides which form it is.
 */
function nameValues(rest: string, c: Ctx): { pairs: KeyValue[]; legacy: boolean } {
  const words = parseWords(rest, c.escape);
  if (words.length === 0) fail(c, 'SYNTAX', `${c.keyword} requires at least one argument`, `write ${c.keyword} <key>=<value>`);
  if (!words[0]!.includes('=')) {
    const m = WHITESPACE_RE.exec(rest);
    if (!m) fail(c, 'SYNTAX', `${c.keyword} must have two arguments`, `write ${c.keyword} ${words[0]}=<value>`);
    return { pairs: [{ key: rest.slice(0, m.index), value: rest.slice(m.index + m[0].length) }], legacy: true };
  }
  const pairs = words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) {
      fail(c, 'SYNTAX', `Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`, 'quote values that contain spaces');
    }
    if (eq === 0) fail(c, 'SYNTAX', `${c.keyword} names can not be blank`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
  return { pairs, legacy: false };
}

function copyOrAdd(rest: string, c: Ctx, rawFlags: readonly string[]): Instruction {
  const isCopy = c.keyword === 'COPY';
  const spec: FlagSpec = isCopy
    ? { chown: 'string', from: 'string', chmod: 'string', link: 'bool', exclude: 'strings', parents: 'bool' }
    : { chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings' };
  const fl = parseFlags(c.keyword, rawFlags, spec, c.loc);
  const json = parseJsonArgs(rest);
  if (json.kind === 'not-strings') failNotStrings(c);
  const args = json.kind === 'json' ? json.args : splitWhitespace(rest);
  if (args.length < 2) {
    fail(c, 'SYNTAX', `${c.keyword} requires at least two arguments, but only one was provided. Destination could not be determined`,
      `write ${c.keyword} <src>... <dest>`);
  }
  const from = fl.values.get('from');
  if (from) {
    fail(c, 'UNSUPPORTED', `COPY --from=${from} is not supported in an image extension Dockerfile`,
      'an extension Dockerfile has a single stage and no other image is pulled; put the files in the extension\'s build context and COPY them from there');
  }
  const dest = args[args.length - 1]!;
  if (parseHeredocWord(dest, c.loc)) fail(c, 'HEREDOC', `${c.keyword} cannot accept a heredoc as a destination`);
  const byName = new Map(c.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const inline: InlineSource[] = [];
  for (const src of args.slice(0, -1)) {
    const h = parseHeredocWord(src, c.loc);
    if (!h) {
      sources.push(src);
      continue;
    }
    const content = byName.get(h.name)?.content ?? '';
    inline.push({ name: h.name, data: h.chomp ? chompTabs(content) : content, expand: h.expand });
  }
  const str = (n: string) => (fl.values.has(n) ? { [n]: fl.values.get(n)! } : {});
  const bool = (n: string) => fl.values.get(n) === 'true';
  const fields = {
    loc: c.loc,
    original: c.original,
    source: c.source,
    sources,
    inline,
    dest,
    json: json.kind === 'json',
    ...str('chown'),
    ...str('chmod'),
    link: bool('link'),
    exclude: fl.lists.get('exclude') ?? [],
  };
  if (isCopy) return { kind: 'COPY', ...fields, parents: bool('parents') };
  return {
    kind: 'ADD',
    ...fields,
    ...str('checksum'),
    ...(fl.values.has('keep-git-dir') ? { keepGitDir: bool('keep-git-dir') } : {}),
    ...(fl.values.has('unpack') ? { unpack: bool('unpack') } : {}),
  };
}

/** `<<-` here-docs: leading tabs are removed from every line of the body. */
export function chompTabs(content: string): string {
  return content.replace(/^\t+/gm, '');
}

function healthcheck(rest: string, c: Ctx, fl: ParsedFlags): Instruction {
  const common = { loc: c.loc, original: c.original, source: c.source };
  const m = /^(\S+)\s*([\s\S]*)$/.exec(rest);
  if (!m) fail(c, 'SYNTAX', 'HEALTHCHECK requires at least one argument', 'write HEALTHCHECK CMD <command> or HEALTHCHECK NONE');
  const type = m[1]!.toUpperCase();
  const cmdText = m[2]!;
  if (type === 'NONE') {
    if (cmdText !== '') fail(c, 'SYNTAX', 'HEALTHCHECK NONE takes no arguments');
    return { kind: 'HEALTHCHECK', ...common, test: ['NONE'] };
  }
  if (type !== 'CMD') fail(c, 'SYNTAX', `Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  const cmd = commandLine(cmdText, c);
  const args = cmd.form === 'exec' ? cmd.argv : cmd.command === '' ? [] : [cmd.command];
  if (args.length === 0) fail(c, 'SYNTAX', 'Missing command after HEALTHCHECK CMD');
  const duration = (name: string): number => {
    const v = fl.values.get(name);
    if (v === undefined || v === '') return 0;
    const ns = parseGoDuration(v);
    if (ns === undefined) fail(c, 'FLAG', `HEALTHCHECK --${name}: time: invalid duration ${JSON.stringify(v)}`, 'use Go durations such as 30s, 1m30s, 500ms');
    if (ns !== 0 && ns < 1e6) fail(c, 'FLAG', `Interval ${JSON.stringify(name)} cannot be less than 1ms`);
    return ns;
  };
  let retries = 0;
  const r = fl.values.get('retries');
  if (r !== undefined && r !== '') {
    if (!/^[+-]?\d+$/.test(r) || Math.abs(Number(r)) > 2 ** 31 - 1) fail(c, 'FLAG', `HEALTHCHECK --retries: invalid number ${JSON.stringify(r)}`);
    retries = Number(r);
    if (retries < 0) fail(c, 'FLAG', `--retries cannot be negative (${retries})`);
  }
  const options: HealthcheckOptions = {
    interval: duration('interval'),
    timeout: duration('timeout'),
    startPeriod: duration('start-period'),
    startInterval: duration('start-interval'),
    retries,
  };
  return { kind: 'HEALTHCHECK', ...common, test: [cmd.form === 'exec' ? 'CMD' : 'CMD-SHELL', ...args], options };
}

function unknownInstruction(written: string, loc: Loc): DockerfileError {
  const upper = written.toUpperCase();
  const near = KEYWORDS.map((k) => [k, editDistance(k, upper)] as const)
    .filter(([, d]) => d <= Math.max(1, Math.floor(upper.length / 2)))
    .sort((a, b) => a[1] - b[1])[0]?.[0];
  const shown = written === '' ? '(empty line continuation)' : written;
  return new DockerfileError('UNKNOWN_INSTRUCTION', `unknown instruction: ${shown}${near ? ` (did you mean ${near}?)` : ''}`, {
    loc,
    hint: 'instructions are FROM ARG ENV LABEL RUN COPY ADD USER WORKDIR SHELL and CMD ENTRYPOINT EXPOSE VOLUME STOPSIGNAL HEALTHCHECK ONBUILD MAINTAINER',
  });
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
