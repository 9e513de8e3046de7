import { applyCommand } from './apply-command.js';
import { demoCommand } from './demo.js';
import { extenderCommand } from './extender-command.js';
import { lintCommand } from './lint.js';
import { exportCommand } from './export.js';
import { restoreCommand } from './restore.js';
import type { CliIO, Command, Env } from './io.js';
import { versionLine } from './version.js';

export const COMMANDS: Command[] = [applyCommand, lintCommand, extenderCommand, restoreCommand, exportCommand, demoCommand];

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
