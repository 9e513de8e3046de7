import type { FlagSet, FlagValue } from './flags.js';
import { describeError } from './exit-codes.js';
import type { Env } from './io.js';
import { chooseProgressMode, createProgress, PROGRESS_MODES, type Progress, type ProgressLevel, type ProgressOutput } from './progress.js';
import { errorFacts, writeJsonAtomic, type ReportBuilder } from './report.js';

// The flags every command shares for what it prints and reports — -progress, -quiet, -json — and
// the end of a run: close the progress display, print the error (if any), write the report.

export interface OutputFlags {
  progress: FlagValue<string>;
  quiet: FlagValue<boolean>;
  json: FlagValue<string>;
}

export function defineOutputFlags(fs: FlagSet, env: Env, fallback: 'plain' | 'lifecycle'): OutputFlags {
  const def = env.CNBX_PROGRESS !== undefined && env.CNBX_PROGRESS !== '' ? env.CNBX_PROGRESS : 'auto';
  return {
    json: fs.string('json', '', 'write a machine-readable JSON report of the run (inputs, steps, layers, output digest, warnings) to this file, atomically, also when the run fails'),
    progress: fs.string(
      'progress',
      def,
      `progress output: ${PROGRESS_MODES} (auto: tty on a terminal, else ${fallback}; env CNBX_PROGRESS)`,
    ),
    quiet: fs.bool('quiet', false, 'print only warnings, errors and the final result (same as -progress quiet)'),
  };
}

/** The Progress the flags ask for, or an error message for a bad -progress value. */
export function openProgress(
  f: OutputFlags,
  o: { out: ProgressOutput; env: Env; level: ProgressLevel; color: boolean; fallback: 'plain' | 'lifecycle' },
): Progress | string {
  const mode = chooseProgressMode(f.progress.value, { out: o.out, env: o.env, quiet: f.quiet.value, fallback: o.fallback });
  if (!mode) return `-progress must be ${PROGRESS_MODES}, not ${JSON.stringify(f.progress.value)}`;
  return createProgress({ mode, out: o.out, level: o.level, color: o.color });
}

/**
 * Writes the report when -json was given. A report that cannot be written turns a success into
 * exit 1 (the caller asked for it); after a failure the original exit code is kept.
 */
export async function finishReport(
  path: string,
  report: ReportBuilder,
  o: { exitCode: number; error?: unknown; errorMessage?: string; warnings: readonly string[]; printError: (msg: string) => void },
): Promise<number> {
  if (path === '') return o.exitCode;
  const err = o.exitCode === 0 ? null : errorFacts(o.error, o.errorMessage ?? (o.error === undefined ? `exit code ${o.exitCode}` : describeError(o.error).message), o.exitCode);
  try {
    await writeJsonAtomic(path, report.finish(o.exitCode, o.warnings, err));
    return o.exitCode;
  } catch (e) {
    o.printError(`cannot write the -json report ${path}: ${describeError(e).message}`);
    return o.exitCode === 0 ? 1 : o.exitCode;
  }
}
