import type { CliIO, Command, Env } from './io.js';
import { versionLine } from './version.js';

/**
 * The commands, each imported only when it runs: importing every command up front loaded ~180 of
 * our modules plus the registry client, TOML and JSON-schema libraries (~300 more CommonJS files)
 * on every start, most of a warm `apply`'s startup. The summaries repeat the command modules' own
 * (test/cli/lazy-commands.test.ts checks that they agree).
 */
const LOADERS: ReadonlyArray<{ name: string; summary: string; load: () => Promise<Command> }> = [
  { name: 'apply', summary: 'apply one extension Dockerfile to an image in an OCI layout, write the result as a layout', load: async () => (await import('./apply-command.js')).applyCommand },
  { name: 'lint', summary: 'check extension Dockerfiles as the lifecycle does (files or directories)', load: async () => (await import('./lint.js')).lintCommand },
  { name: 'extender', summary: "the lifecycle's extender phase (kaniko's replacement): also installed as the `extender` binary", load: async () => (await import('./extender-command.js')).extenderCommand },
  { name: 'restore', summary: "the lifecycle restorer's image-extension part: base images into <kaniko-dir>/cache/base, analyzed.toml", load: async () => (await import('./restore.js')).restoreCommand },
  { name: 'export', summary: 'export an app image on the (extended) run image: OCI layout (full or sparse) or registry', load: async () => (await import('./export.js')).exportCommand },
  { name: 'demo', summary: 'extend a small bundled base image with a sample extension and show what changed', load: async () => (await import('./demo.js')).demoCommand },
];

export const COMMANDS: Command[] = LOADERS.map(({ name, summary, load }) => ({ name, summary, run: async (argv, env, io) => (await load()).run(argv, env, io) }));

/** The command modules' own Command objects, imported (for tests: they must match COMMANDS). */
export function loadCommands(): Promise<Command[]> {
  return Promise.all(LOADERS.map((c) => c.load()));
}

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return `Usage: cnb-extender <command> [flags]

Applies Cloud Native Buildpacks image-extension Dockerfiles to OCI images: a fast, safe
replacement for kaniko in the lifecycle's extender phase, and the tools around it.

Commands:
${lines.join('\n')}

Run 'cnb-extender <command> -help' for a command's flags and examples, 'cnb-extender -version' for
the version. Flags use Go's syntax (-flag value, -flag=value, --flag value). Documentation:
README.md, docs/cli.md.
`;
}

/** Entry point of `cnb-extender`: dispatches to a sub-command and returns the exit code. */
export async function main(argv: string[], env: Env, io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(usage());
    return 2;
  }
  if (name === 'help' || name === '-h' || name === '--help' || name === '-help') {
    const target = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (target) return target.run(['-help'], env, io);
    io.stdout.write(usage());
    return 0;
  }
  if (name === 'version' || name === '-version' || name === '--version') {
    io.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.stderr.write(`cnb-extender: unknown command ${JSON.stringify(name)}; the commands are ${COMMANDS.map((c) => c.name).join(', ')}.\nRun 'cnb-extender -help' for what they do.\n`);
    return 2;
  }
  return cmd.run(rest, env, io);
}
