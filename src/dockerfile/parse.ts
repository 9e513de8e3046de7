import { DockerfileError } from './errors.js';
import { toInstruction } from './instructions.js';
import { scanDockerfile } from './scanner.js';
import type { ArgInstruction, Diag, Instruction, ParsedDockerfile, Stage } from './types.js';

/**
 * Parses a Dockerfile (text, not a path: this module never touches the filesystem) into typed
 * instructions, split into meta ARGs and stages. Throws DockerfileError at the first problem, with
 * its file and line, as BuildKit does. Multi-stage files parse; `lintDockerfile` rejects them.
 */
export function parseDockerfile(text: string, file?: string): ParsedDockerfile {
  const scan = scanDockerfile(text, file);
  const where = file !== undefined ? { file } : {};
  if (scan.lines.length === 0) {
    const line = Math.max(1, scan.source.length);
    throw new DockerfileError('EMPTY', 'file with no instructions', {
      loc: { ...where, line, endLine: line },
      hint: 'an extension Dockerfile starts with ARG base_image and FROM ${base_image}',
    });
  }

  const instructions: Instruction[] = [];
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const warnings: Diag[] = [];
  for (const line of scan.lines) {
    const source = scan.source.slice(line.startLine - 1, line.endLine).join('').replace(/\r?\n$/, '');
    const instr = toInstruction(line, scan.escape, source, file);
    instructions.push(instr);
    if (line.emptyContinuation) {
      warnings.push({
        severity: 'warning',
        code: 'EMPTY_CONTINUATION',
        message: `Empty continuation line found in: ${instr.original}`,
        ...where,
        line: line.startLine,
        endLine: line.endLine,
      });
    }
    const current = stages[stages.length - 1];
    if (instr.kind === 'FROM') stages.push({ from: instr, instructions: [] });
    else if (current) current.instructions.push(instr);
    else if (instr.kind === 'ARG') metaArgs.push(instr);
    else {
      throw new DockerfileError('NO_STAGE', `no build stage in current context: ${instr.kind} before the first FROM`, {
        loc: instr.loc,
        hint: 'only ARG may come before FROM',
      });
    }
  }

  const syntax = scan.directives.find((d) => d.name === 'syntax')?.value;
  return {
    ...where,
    escape: scan.escape,
    ...(syntax !== undefined ? { syntax } : {}),
    instructions,
    metaArgs,
    stages,
    warnings,
  };
}
