import { chompTabs } from './instructions.js';
import { parseHeredocWord } from './scanner.js';
import type { CommandLine, Instruction, RunInstruction } from './types.js';

/** Docker's default SHELL on Linux. */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** A file the RUN needs in place before it starts (a here-doc script with a `#!` line). */
export interface InlineFile {
  /** Absolute path inside the container: `/dev/pipes/<name>`, as BuildKit mounts it. */
  path: string;
  data: string;
  mode: number;
}

export interface RunInvocation {
  argv: string[];
  /** Files to provide (read-only) for the duration of the RUN; usually none. */
  files: InlineFile[];
}

/**
 * The argv of a RUN, with Docker's (BuildKit's) here-doc rules:
 * - exec form: the JSON array as is; shell form: `[...shell, command]`.
 * - `RUN <<EOF` alone: the body is the script (`sh -c <body>`; `<<-` strips leading tabs). A body
 *   starting with `#!` is written to /dev/pipes/EOF (mode 0755) and run as `sh -c /dev/pipes/EOF`,
 *   so its interpreter line is honoured.
 * - anything else (`RUN cat <<EOF > /f`, several here-docs): the line and the bodies are joined
 *   back into one script, each body followed by its terminator, and the shell handles them.
 *
 * kaniko differs here: it feeds a lone `<<EOF` body to `sh` on stdin (ignoring `#!`), and runs
 * nothing at all for `RUN <<-EOF` or `RUN <<'EOF'`. We follow Docker, which is what extension
 * authors test with.
 */
export function runInvocation(run: RunInstruction, shell: readonly string[] = DEFAULT_SHELL): RunInvocation {
  const sh = shell.length > 0 ? [...shell] : [...DEFAULT_SHELL];
  if (run.cmd.form === 'exec') return { argv: [...run.cmd.argv], files: [] };
  const command = run.cmd.command;
  const [first] = run.heredocs;
  if (!first) return { argv: [...sh, command], files: [] };
  if (run.heredocs.length === 1 && parseHeredocWord(command)) {
    const data = first.chomp ? chompTabs(first.content) : first.content;
    if (data.startsWith('#!')) {
      const path = `/dev/pipes/${first.name}`;
      return { argv: [...sh, path], files: [{ path, data, mode: 0o755 }] };
    }
    return { argv: [...sh, data], files: [] };
  }
  let script = command;
  for (const h of run.heredocs) script += `\n${h.content}${h.name}`;
  return { argv: [...sh, script], files: [] };
}

/** CMD/ENTRYPOINT/HEALTHCHECK-style command as stored in the image config. */
export function commandArgv(cmd: CommandLine, shell: readonly string[] = DEFAULT_SHELL): string[] {
  if (cmd.form === 'exec') return [...cmd.argv];
  return [...(shell.length > 0 ? shell : DEFAULT_SHELL), cmd.command];
}

/**
 * The history `created_by` kaniko writes for a layer made by this instruction: BuildKit's source
 * text of the instruction (`RUN apt-get update && apt-get install -y curl`, `COPY run-file /`),
 * continuation lines joined, here-doc bodies not included (`RUN <<EOF`), exec form as written
 * (`RUN ["sh","-c","echo hi"]`). The lifecycle then wraps it as
 * `Layer: '<created_by>', Created by extension: <id>`.
 */
export function createdBy(instr: Instruction): string {
  return instr.original;
}
