import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLintReport, lintFiles, looksLikeDockerfile, type DockerfileKind } from '../dockerfile/index.js';
import { FlagSet } from './flags.js';
import type { CliIO, Command, Env } from './io.js';

/** Directories never searched for Dockerfiles (dependency trees and VCS data, not extensions). */
const SKIP_DIRS = new Set(['.git', 'node_modules']);

/**
 * The files `lint` checks for one argument: a file as it is; a directory's Dockerfiles
 * (`Dockerfile`, `*.Dockerfile`) at any depth, in name order, so both the Platform ≥ 0.13 layout
 * (`<ext>/build.Dockerfile`) and the older one (`build/<ext>/Dockerfile`) are found.
 */
export async function dockerfilesIn(path: string): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(p);
      } else if ((e.isFile() || e.isSymbolicLink()) && looksLikeDockerfile(e.name)) {
        out.push(p);
      }
    }
  };
  await walk(path);
  return out;
}

const USAGE_EXAMPLES = `
Checks image-extension Dockerfiles as the lifecycle's detector does (same rules and messages),
plus warnings where cnb-extender and the lifecycle's kaniko would build different things.
The kind is taken from the file name (build.Dockerfile, run.Dockerfile, build/<id>/Dockerfile,
run/<id>/Dockerfile; otherwise build) unless -kind is given. Exit status: 0 no errors (warnings
are printed), 1 at least one error, 2 bad usage or unreadable input.

Examples:
  cnb-extender lint my-extension/generate-output/
  cnb-extender lint -kind run Dockerfile
  cnb-extender lint run.Dockerfile build.Dockerfile
`;

export const lintCommand: Command = {
  name: 'lint',
  summary: 'check extension Dockerfiles as the lifecycle does (files or directories)',
  async run(argv: string[], _env: Env, io: CliIO): Promise<number> {
    const fs = new FlagSet('cnb-extender lint');
    const kind = fs.string('kind', '', 'build or run (default: from each file name, else build)');
    const usageText = () => `Usage: cnb-extender lint [-kind build|run] <file|dir>...\n\n${fs.usage()}`;
    const usageError = (msg: string) => {
      io.stderr.write(`cnb-extender lint: ${msg}\n\n${usageText()}`);
      return 2;
    };
    // Flags may come before or after the paths (`lint dir -kind run`); `--` ends the flags.
    const flagArgs: string[] = [];
    const paths: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--') {
        paths.push(...argv.slice(i + 1));
        break;
      }
      if (a.length > 1 && a.startsWith('-')) {
        flagArgs.push(a);
        if (/^--?kind$/.test(a) && i + 1 < argv.length) flagArgs.push(argv[++i]!);
      } else {
        paths.push(a);
      }
    }
    const parsed = fs.parse(flagArgs);
    if (parsed.kind === 'help') {
      io.stdout.write(`${usageText()}${USAGE_EXAMPLES}`);
      return 0;
    }
    if (parsed.kind === 'error') return usageError(parsed.message);
    if (kind.value !== '' && kind.value !== 'build' && kind.value !== 'run') return usageError(`-kind must be build or run, not ${JSON.stringify(kind.value)}`);
    if (paths.length === 0) return usageError('give at least one Dockerfile or directory');

    const inputs: Array<{ path: string; text: string }> = [];
    for (const p of paths) {
      let files: string[];
      try {
        files = await dockerfilesIn(p);
      } catch (e) {
        io.stderr.write(`cnb-extender lint: ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}\n`);
        return 2;
      }
      if (files.length === 0) {
        io.stderr.write(`cnb-extender lint: ${p}: no Dockerfile found (looked for Dockerfile and *.Dockerfile)\n`);
        return 2;
      }
      for (const f of files) {
        try {
          inputs.push({ path: f, text: await readFile(f, 'utf8') });
        } catch (e) {
          io.stderr.write(`cnb-extender lint: ${f}: ${(e as Error).message}\n`);
          return 2;
        }
      }
    }
    const report = lintFiles(inputs, kind.value === '' ? undefined : (kind.value as DockerfileKind));
    io.stdout.write(formatLintReport(report));
    return report.errorCount > 0 ? 1 : 0;
  },
};
