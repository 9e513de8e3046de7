import { apiSupported, parseApiVersion, type ApiVersion } from '../cnb/index.js';
import type { Logger } from '../log.js';
import { CliFailure, EXIT } from './errors.js';
import type { LifecycleLogLevel } from './extender-log.js';
import type { FlagSet } from './flags.js';
import { helpText, wantsHelp, type HelpSpec } from './help.js';
import type { CliIO, Env } from './io.js';
import { openProgress, type OutputFlags } from './output-flags.js';
import type { Progress } from './progress.js';

// What the lifecycle-style phase commands (extender, restore, export) share: the Platform API
// gate, Go flag parsing with the lifecycle's help and usage-error output, the warning for
// flag-like arguments after the first positional one, and the progress display their -log-level,
// -no-color and output flags ask for. Messages and exit codes are the lifecycle's (contract.md §1).

/**
 * CNB_PLATFORM_API: required, parsable and one of `supported`, else exit 11 with the lifecycle's
 * messages (`incompatibleWith` ends the last one: "... is incompatible with <it>"). `-help` works
 * without it, showing the newest supported API's flags.
 */
export function phasePlatformApi(argv: readonly string[], env: Env, supported: readonly string[], incompatibleWith: string): ApiVersion {
  const raw = env.CNB_PLATFORM_API ?? '';
  if (wantsHelp(argv) && !parseApiVersion(raw)) return parseApiVersion(supported.at(-1)!)!;
  if (raw.trim() === '') {
    throw new CliFailure(EXIT.PLATFORM_API, "get platform API version; please set 'CNB_PLATFORM_API' to specify the desired platform API version");
  }
  const v = parseApiVersion(raw);
  if (!v) throw new CliFailure(EXIT.PLATFORM_API, `parse platform API '${raw}'`);
  if (!apiSupported(supported, v)) {
    throw new CliFailure(EXIT.PLATFORM_API, 'set platform API', new Error(`platform API version '${raw}' is incompatible with ${incompatibleWith}`));
  }
  return v;
}

/**
 * Parses the flags the Go way. `-help` prints the phase's help (Go's usage block first) and a bad
 * flag prints the usage and an `ERROR:` line naming `command -help`; both return the exit code
 * (0, 2). Otherwise the positional arguments.
 */
export function parsePhaseFlags(fs: FlagSet, argv: string[], io: CliIO, o: { help: HelpSpec; command: string }): { args: string[] } | { exitCode: number } {
  const parsed = fs.parse(argv);
  if (parsed.kind === 'help') {
    io.stderr.write(helpText(o.help, fs.usage(), { lifecycle: true }));
    return { exitCode: EXIT.OK };
  }
  if (parsed.kind === 'error') {
    io.stderr.write(`${parsed.message}\n${fs.usage()}\nERROR: ${parsed.message} (run '${o.command} -help' for the flags)\n`);
    return { exitCode: EXIT.USAGE };
  }
  return { args: parsed.args };
}

/** The lifecycle's warning for each flag-like argument Go's parser left positional (it stops at the first non-flag). */
export function warnFlagLikeArgs(args: readonly string[], log: Logger): void {
  for (const a of args) {
    if (a.startsWith('-')) {
      log.warn(
        `Warning: unconsumed flag-like positional arg: \n\t${a}\n\t This will not be interpreted as a flag.\n\t Did you mean to put this before the first positional argument?`,
      );
    }
  }
}

/**
 * The progress display of a phase: the output flags' mode (auto falls back to the lifecycle's
 * format), at the -log-level given (fatal shows errors), in color on a terminal unless -no-color.
 * A string is the message for a bad -progress value.
 */
export function openPhaseProgress(out: OutputFlags, o: { io: CliIO; env: Env; level: LifecycleLogLevel; noColor: boolean }): Progress | string {
  const color = !o.noColor && o.io.stdout.isTTY === true;
  return openProgress(out, { out: o.io.stdout, env: o.env, level: o.level === 'fatal' ? 'error' : o.level, color, fallback: 'lifecycle' });
}
