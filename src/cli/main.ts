import { applyCommand } from './apply.js';
import { demoCommand } from './demo.js';
import { lintCommand } from './lint.js';
import { restoreCommand } from './restore.js';
import { exportCommand } from '../exporter/command.js';
import type { CliIO, Command, Env } from './io.js';

const COMMANDS: Command[] = [applyCommand, lintCommand, exportCommand, restoreCommand, demoCommand];

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return `Usage: cnb-extender <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'cnb-extender <command> -help' for a command's flags.\n`;
}

/** Entry point of `cnb-extender`: dispatches to a sub-command and returns the exit code. */
export async function main(argv: string[], env: Env, io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '-h' || name === '--help' || name === '-help') {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.stderr.write(`cnb-extender: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return cmd.run(rest, env, io);
}
