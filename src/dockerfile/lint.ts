import { DockerfileError } from './errors.js';
import { parseDockerfile } from './parse.js';
import { parseHeredocWord } from './scanner.js';
import type { Diag, Instruction, ParsedDockerfile } from './types.js';

/**
 * Validation of image-extension Dockerfiles exactly as the lifecycle's detector does it
 * (`buildpack/dockerfile.go` ValidateBuildDockerfile / ValidateRunDockerfile): same checks, same
 * order, same message texts. Like the lifecycle, at most one error is reported (the first);
 * warnings come with their line. A few extra warnings of ours are marked by their code.
 */

export type DockerfileKind = 'build' | 'run';

export interface LintDiag extends Diag {
  /** What to change, when we know. */
  hint?: string;
}

export interface LintResult {
  file?: string;
  kind: DockerfileKind;
  errors: LintDiag[];
  warnings: LintDiag[];
  /** run: FROM is not literally `${base_image}`: the Dockerfile switches the run image. */
  isSwitch: boolean;
  /** run: the image switched to (the FROM text), when isSwitch. */
  withBase?: string;
  /** The stage has at least one instruction after FROM (there is something to apply). */
  extend: boolean;
  /** The parsed file, when it parsed. */
  parsed?: ParsedDockerfile;
}

export const BASE_IMAGE_ARG = 'base_image';
export const BASE_IMAGE_REF = '${base_image}';
/** Instructions the spec recommends; others only warn. */
export const RECOMMENDED: ReadonlySet<string> = new Set(['FROM', 'ADD', 'ARG', 'COPY', 'ENV', 'LABEL', 'RUN', 'SHELL', 'USER', 'WORKDIR']);

/** The lifecycle's message texts (`buildpack/dockerfile.go`); `<name>` is build.Dockerfile or run.Dockerfile. */
export const LifecycleMessages = {
  buildMissingArg: 'build.Dockerfile did not start with required ARG command',
  buildMissingFrom: 'build.Dockerfile did not contain required FROM ${base_image} command',
  missingStage: (name: string) => `${name} should have at least one stage`,
  multiStage: (name: string) => `${name} is not permitted to use multistage build`,
  notRecommended: (name: string, cmd: string, line: number) => `${name} command ${cmd} on line ${line} is not recommended`,
} as const;

const nameOf = (kind: DockerfileKind): string => `${kind}.Dockerfile`;

function diag(severity: 'error' | 'warning', code: string, message: string, file: string | undefined, at?: Instruction, hint?: string): LintDiag {
  return {
    severity,
    code,
    message,
    ...(file !== undefined ? { file } : {}),
    ...(at ? { line: at.loc.line, endLine: at.loc.endLine } : {}),
    ...(hint ? { hint } : {}),
  };
}

/** Validates a parsed Dockerfile as an extension Dockerfile of `kind`. */
export function lintDockerfile(p: ParsedDockerfile, kind: DockerfileKind): LintResult {
  const file = p.file;
  const name = nameOf(kind);
  const errors: LintDiag[] = [];
  const warnings: LintDiag[] = p.warnings.map((w) => ({ ...w }));
  const stageInstructions = p.stages.flatMap((s) => s.instructions);
  const result: LintResult = {
    ...(file !== undefined ? { file } : {}),
    kind,
    errors,
    warnings,
    isSwitch: false,
    extend: stageInstructions.length > 0,
    parsed: p,
  };

  if (p.stages.length > 1) {
    errors.push(diag('error', 'MULTI_STAGE', LifecycleMessages.multiStage(name), file, p.stages[1]!.from,
      'an extension Dockerfile has exactly one FROM'));
    return result;
  }
  if (kind === 'run' && p.stages.length === 0) {
    errors.push(diag('error', 'NO_STAGE', LifecycleMessages.missingStage(name), file, p.instructions[0], 'add FROM ${base_image}'));
    return result;
  }

  for (const instr of stageInstructions) {
    if (!RECOMMENDED.has(instr.kind)) {
      warnings.push(diag('warning', 'NOT_RECOMMENDED', LifecycleMessages.notRecommended(name, instr.kind, instr.loc.line), file, instr));
    }
    warnings.push(...extenderWarnings(instr, file));
  }

  const from = p.stages[0]?.from;
  if (kind === 'build') {
    const first = p.metaArgs[0];
    if (p.metaArgs.length !== 1 || first?.args[0]?.name !== BASE_IMAGE_ARG) {
      errors.push(diag('error', 'MISSING_ARG', LifecycleMessages.buildMissingArg, file, p.metaArgs[1] ?? p.instructions[0],
        'start the file with exactly one "ARG base_image" before FROM'));
      return result;
    }
    if (!from) {
      errors.push(diag('error', 'NO_STAGE', LifecycleMessages.missingStage(name), file, first, 'add FROM ${base_image}'));
      return result;
    }
    if (from.image !== BASE_IMAGE_REF) {
      errors.push(diag('error', 'MISSING_FROM', LifecycleMessages.buildMissingFrom, file, from, fromHint(from.image)));
    }
    return result;
  }

  if (from && from.image !== BASE_IMAGE_REF) {
    result.isSwitch = true;
    result.withBase = from.image;
    if (from.image.startsWith('$') && from.image.includes(BASE_IMAGE_ARG)) {
      warnings.push(diag('warning', 'LITERAL_BASE_IMAGE',
        `${name} FROM ${from.image} on line ${from.loc.line} switches the run image to an image named "${from.image}": the lifecycle compares the text literally`,
        file, from, fromHint(from.image)));
    }
  }
  return result;
}

function fromHint(image: string): string {
  return image.includes('base_image') ? 'write exactly FROM ${base_image}, with the braces' : 'write FROM ${base_image}';
}

/** Where the lifecycle (kaniko) and Docker would build different things, and we build Docker's. */
function extenderWarnings(instr: Instruction, file: string | undefined): LintDiag[] {
  if (instr.kind !== 'RUN' || instr.heredocs.length !== 1 || instr.cmd.form !== 'shell') return [];
  const h = parseHeredocWord(instr.cmd.command);
  if (!h || (!h.chomp && h.expand)) return [];
  return [diag('warning', 'KANIKO_HEREDOC',
    `${instr.original} on line ${instr.loc.line}: the lifecycle's kaniko runs nothing for this here-doc form; cnb-extender runs the body as Docker does`,
    file, instr, 'use a plain <<EOF delimiter to get the same result with both')];
}

/** Parses and lints one file's text; a parse error becomes the (single) error. */
export function lintText(text: string, kind: DockerfileKind, file?: string): LintResult {
  let parsed: ParsedDockerfile;
  try {
    parsed = parseDockerfile(text, file);
  } catch (e) {
    if (!(e instanceof DockerfileError)) throw e;
    const error: LintDiag = {
      severity: 'error',
      code: e.code,
      message: e.detail,
      ...(file !== undefined ? { file } : {}),
      ...(e.loc ? { line: e.loc.line, endLine: e.loc.endLine } : {}),
      ...(e.hint ? { hint: e.hint } : {}),
    };
    return { ...(file !== undefined ? { file } : {}), kind, errors: [error], warnings: [], isSwitch: false, extend: false };
  }
  return lintDockerfile(parsed, kind);
}

/**
 * The kind a file name implies: `build.Dockerfile`/`run.Dockerfile` (Platform ≥ 0.13 layout), or
 * `<kind>/<extension-id>/Dockerfile` (the older layout).
 */
export function guessKind(path: string): DockerfileKind | undefined {
  const parts = path.split(/[\\/]+/).filter((s) => s !== '');
  const base = parts[parts.length - 1] ?? '';
  if (base === 'build.Dockerfile') return 'build';
  if (base === 'run.Dockerfile') return 'run';
  const grand = parts[parts.length - 3];
  if (base === 'Dockerfile' && (grand === 'build' || grand === 'run')) return grand;
  return undefined;
}

/** Whether a file in a directory given to `lint` is one to check: *.Dockerfile or Dockerfile. */
export function looksLikeDockerfile(path: string): boolean {
  const base = path.split(/[\\/]+/).filter((s) => s !== '').pop() ?? '';
  return base === 'Dockerfile' || base.endsWith('.Dockerfile');
}

export interface LintReport {
  results: LintResult[];
  errorCount: number;
  warningCount: number;
}

/** Lints several files; `kind` forces the kind, else it is guessed from each name (default build). */
export function lintFiles(inputs: ReadonlyArray<{ path: string; text: string }>, kind?: DockerfileKind): LintReport {
  const results = inputs.map((i) => lintText(i.text, kind ?? guessKind(i.path) ?? 'build', i.path));
  return {
    results,
    errorCount: results.reduce((n, r) => n + r.errors.length, 0),
    warningCount: results.reduce((n, r) => n + r.warnings.length, 0),
  };
}

/**
 * Human-readable report, one finding a line (`path:line: error: message (hint)`), a line per run
 * image switch, and a summary. The CLI prints it and exits non-zero when errorCount > 0.
 */
export function formatLintReport(report: LintReport): string {
  const lines: string[] = [];
  for (const r of report.results) {
    const path = r.file ?? `${r.kind}.Dockerfile`;
    const findings = [...r.errors, ...r.warnings].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    for (const d of findings) {
      const where = d.line !== undefined ? `${path}:${d.line}` : path;
      lines.push(`${where}: ${d.severity}: ${d.message}${d.hint ? ` (${d.hint})` : ''}`);
    }
    const summary = r.isSwitch ? `switches the run image to ${r.withBase}${r.extend ? ' and extends it' : ''}` : '';
    if (findings.length === 0) lines.push(`${path}: ok (${r.kind}${summary ? `; ${summary}` : ''})`);
    else if (summary) lines.push(`${path}: ${summary}`);
  }
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  lines.push(`${plural(report.errorCount, 'error')}, ${plural(report.warningCount, 'warning')} in ${plural(report.results.length, 'file')}`);
  return `${lines.join('\n')}\n`;
}
