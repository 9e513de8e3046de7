// Attack (or accident): the lifecycle's TOML files — analyzed.toml, group.toml, extend-config.toml
// and run.toml — with wrong types, missing keys, syntax errors, a directory or a 17 MB file in
// their place, read by the compiled `extender` and `cnb-extender restore`. Each run must end with
// the documented exit code and one clear message naming the file and (for type and key errors)
// the dotted key; nothing is written outside and <kaniko-dir> keeps only `cache`.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { put } from '../extender/helpers/cnb-tree.js';
import { scenario } from '../extender/helpers/scenario.js';
import { CLI, EXTENDER_CLI, hasDist, runCli } from './hostile.js';
import { watchOutside } from './outside.js';

type Content = string | { dir: true } | { bytes: number };

async function place(path: string, c: Content): Promise<void> {
  await rm(path, { recursive: true, force: true });
  if (typeof c === 'string') await put(path, c);
  else if ('dir' in c) await mkdir(path, { recursive: true });
  else await writeFile(path, Buffer.alloc(c.bytes, 0x23)); // '#' comments: valid TOML, only too big
}

interface Case {
  name: string;
  content: Content;
  /** Expected exit code and text the output must contain. */
  code: number;
  says: RegExp[];
}

const READ_ERRORS: Case[] = [
  { name: 'syntax error', content: '[run-image\nreference = "x"\n', code: 1, says: [/:1/] },
  { name: 'a directory', content: { dir: true }, code: 1, says: [/EISDIR|directory/i] },
  { name: '17 MB', content: { bytes: 17 << 20 }, code: 1, says: [/larger than/] },
];

const ANALYZED: Case[] = [
  { name: 'reference of the wrong type', content: '[run-image]\nreference = 42\n', code: 1, says: [/"run-image\.reference": expected a string, got integer/] },
  { name: 'run-image as a string', content: 'run-image = "x"\n', code: 1, says: [/"run-image": expected a table, got string/] },
  { name: 'extend as a string', content: '[run-image]\nreference = "r@sha256:' + 'a'.repeat(64) + '"\nextend = "yes"\n', code: 1, says: [/"run-image\.extend": expected a boolean, got string/] },
  { name: 'an array of tables', content: '[[run-image]]\nreference = "x"\n', code: 1, says: [/"run-image": expected a table, got array/] },
  { name: 'no run-image.reference', content: '[run-image]\nimage = "x"\n', code: 102, says: [/run-image\.reference/] },
  ...READ_ERRORS,
];

const GROUP: Case[] = [
  { name: 'extension without id', content: '[[group-extensions]]\nversion = "1"\napi = "0.9"\n', code: 1, says: [/"group-extensions\[0\]\.id" is required/] },
  { name: 'id of the wrong type', content: '[[group-extensions]]\nid = 1\napi = "0.9"\n', code: 1, says: [/"group-extensions\[0\]\.id": expected a string, got integer/] },
  { name: 'api as a float', content: '[[group-extensions]]\nid = "curl"\napi = 0.9\n', code: 1, says: [/"group-extensions\[0\]\.api": expected a string, got float/] },
  { name: 'group-extensions as a string', content: 'group-extensions = "curl"\n', code: 1, says: [/"group-extensions": expected an array of tables, got string/] },
  { name: 'extensions as an array of strings', content: 'group-extensions = ["curl"]\n', code: 1, says: [/"group-extensions\[0\]": expected a table, got string/] },
  ...READ_ERRORS,
];

const EXTEND_CONFIG: Case[] = [
  { name: 'arg without name', content: '[[run.args]]\nvalue = "x"\n', code: 102, says: [/"run\.args\[0\]\.name" is required/] },
  { name: 'value of the wrong type', content: '[[run.args]]\nname = "a"\nvalue = 1\n', code: 102, says: [/"run\.args\[0\]\.value": expected a string, got integer/] },
  { name: 'run as a string', content: 'run = "x"\n', code: 102, says: [/"run": expected a table, got string/] },
  { name: 'args as a table', content: '[run.args]\nname = "a"\n', code: 102, says: [/"run\.args": expected an array of tables, got table/] },
  ...READ_ERRORS.map((c) => ({ ...c, code: 102 })),
];

const RUN_TOML: Case[] = [
  { name: 'image without image', content: '[[images]]\nmirrors = ["m"]\n', code: 1, says: [/"images\[0\]\.image" is required/] },
  { name: 'mirrors as a string', content: '[[images]]\nimage = "r/x"\nmirrors = "m"\n', code: 1, says: [/"images\[0\]\.mirrors": expected an array of strings, got string/] },
  { name: "a mirror of another type (TOML 0.5: no mixed arrays)", content: "[[images]]\nimage = \"r/x\"\nmirrors = [\"m\", 2]\n", code: 1, says: [/:3:\d+: Inline lists must be a single type, not a mix of string and integer$/m] },
  { name: 'images as an integer', content: 'images = 3\n', code: 1, says: [/"images": expected an array of tables, got integer/] },
  ...READ_ERRORS,
];

describe.runIf(isRoot && hasDist)('lifecycle TOML files with wrong types and missing keys', () => {
  async function extenderCases(file: 'analyzed.toml' | 'group.toml' | 'extend-config.toml', cases: Case[]): Promise<void> {
    const watch = await watchOutside();
    const s = await scenario('0.13');
    // Dockerfiles busybox can run (the scenario's use apt-get, for the fake engine).
    await put(join(s.t.generated, 'curl', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nARG a\nUSER root\nRUN echo "a=$a" > /a\nUSER 1000\n');
    await put(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nLABEL x=y\n');
    const path = file === 'extend-config.toml' ? join(s.t.generated, 'curl', 'extend-config.toml') : join(s.t.layers, file);
    const original = await readFile(path, 'utf8').catch(() => null);
    for (const c of cases) {
      await place(path, c.content);
      const r = await runCli(EXTENDER_CLI, ['-kind', 'run', '-log-level', 'info'], s.env);
      const said = r.stdout + r.stderr;
      expect({ case: c.name, code: r.code }, said).toEqual({ case: c.name, code: c.code });
      expect(said, c.name).toContain(path);
      for (const re of c.says) expect(said, c.name).toMatch(re);
      expect(said.match(/ERROR/g)?.length, `${c.name}: one error line`).toBe(1);
      expect(await readdir(s.t.kaniko), c.name).toEqual(['cache']);
    }
    if (original !== null) await place(path, original);
    else await rm(path, { recursive: true, force: true });
    const ok = await runCli(EXTENDER_CLI, ['-kind', 'run', '-uid', '1000', '-gid', '1000'], s.env);
    expect(ok.stdout + ok.stderr).not.toMatch(/ERROR/);
    await watch.assertUnchanged();
  }

  it('analyzed.toml (extender)', () => extenderCases('analyzed.toml', ANALYZED));
  it('group.toml (extender)', () => extenderCases('group.toml', GROUP));
  it('extend-config.toml (extender)', () => extenderCases('extend-config.toml', EXTEND_CONFIG));

  it('group.toml, run.toml and analyzed.toml (restorer)', async () => {
    const watch = await watchOutside();
    const s = await scenario('0.14');
    const env = { ...s.env, CNB_PLATFORM_API: '0.14' };
    const files = { group: join(s.t.layers, 'group.toml'), analyzed: join(s.t.layers, 'analyzed.toml'), run: join(s.t.layers, 'run.toml') };
    // A run image on an unreachable registry: run.toml is read before anything is pulled.
    const analyzed = '[run-image]\nreference = ""\nimage = "127.0.0.1:9/run:latest"\n';
    await put(files.analyzed, analyzed);
    const argv = ['restore', '-group', files.group, '-analyzed', files.analyzed, '-run', files.run, '-layers', s.t.layers, '-kaniko-dir', s.t.kaniko, '-log-level', 'info'];
    const goodGroup = await readFile(files.group, 'utf8');
    for (const [file, cases] of [['group', GROUP], ['run', RUN_TOML]] as const) {
      for (const c of cases) {
        await place(files.group, goodGroup);
        await place(files.analyzed, analyzed);
        await place(files[file], c.content);
        const r = await runCli(CLI, argv, env);
        const said = r.stdout + r.stderr;
        expect({ file, case: c.name, code: r.code }, said).toEqual({ file, case: c.name, code: c.code === 102 ? 1 : c.code });
        expect(said, c.name).toContain(files[file]);
        for (const re of c.says) expect(said, c.name).toMatch(re);
        expect(await readFile(files.analyzed, 'utf8'), `${c.name}: analyzed.toml untouched`).toBe(analyzed);
      }
      await rm(files.run, { recursive: true, force: true });
    }
    // An unusable analyzed.toml: the lifecycle's restorer warns and goes on without it (exit 0), file left alone.
    await place(files.group, goodGroup);
    for (const c of ANALYZED.filter((x) => x.code !== 102)) {
      await place(files.analyzed, c.content);
      const r = await runCli(CLI, argv, env);
      const said = r.stdout + r.stderr;
      expect({ case: c.name, code: r.code }, said).toEqual({ case: c.name, code: 0 });
      expect(said).toMatch(/Not using analyzed data/);
      expect(said, c.name).toContain(files.analyzed);
      if (typeof c.content === 'string') expect(await readFile(files.analyzed, 'utf8')).toBe(c.content);
    }
    expect(await readdir(s.t.kaniko)).toEqual(['cache']);
    await watch.assertUnchanged();
  });
});
