import { isCnbError } from '../cnb/errors.js'; // not index.js: that loads the TOML library too
import { ExtenderError, type ExtenderErrorCode } from '../extender/errors.js';
import type { Logger } from '../log.js';
import { hintFor, imagePaths } from './hints.js';

// The one place that knows exit codes (lifecycle cmd/exit.go, platform/exit.go) and prints errors
// the way the lifecycle does: `ERROR: failed to <action>: <cause>: <cause>…`, with stacks only at
// -log-level debug.

export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  INVALID_ARGS: 3,
  PLATFORM_API: 11,
  BUILDPACK_API: 12,
  EXTEND: 102,
} as const;

/** An error the CLI raises itself, already carrying its exit code and action. */
export class CliFailure extends Error {
  readonly exitCode: number;
  readonly action: string;
  constructor(exitCode: number, action: string, cause?: unknown) {
    super(action, cause === undefined ? undefined : { cause });
    this.name = 'CliFailure';
    this.exitCode = exitCode;
    this.action = action;
  }
}

interface Mapping {
  exitCode: number;
  /** `failed to <action>`; null: the error's message is the action. */
  action: ((e: ExtenderError) => string) | null;
}

const extendAction = (e: ExtenderError) => `extend ${e.kind ?? 'build'} image`;

const EXTENDER: Record<ExtenderErrorCode, Mapping> = {
  USAGE: { exitCode: EXIT.INVALID_ARGS, action: () => 'parse arguments' },
  WORK_DIR: { exitCode: EXIT.FAILED, action: null },
  INIT: { exitCode: EXIT.FAILED, action: () => 'initialize extender' },
  EXTENSION_API: { exitCode: EXIT.BUILDPACK_API, action: null },
  IMAGE_REF: { exitCode: EXIT.EXTEND, action: extendAction },
  BASE_IMAGE: { exitCode: EXIT.EXTEND, action: extendAction },
  SPARSE_BASE: { exitCode: EXIT.EXTEND, action: extendAction },
  EXTEND_CONFIG: { exitCode: EXIT.EXTEND, action: extendAction },
  DOCKERFILE: { exitCode: EXIT.EXTEND, action: extendAction },
  FINAL_USER_ROOT: { exitCode: EXIT.EXTEND, action: extendAction },
  ENV: { exitCode: EXIT.EXTEND, action: extendAction },
  OUTPUT: { exitCode: EXIT.EXTEND, action: extendAction },
  CLEANUP: { exitCode: EXIT.EXTEND, action: extendAction },
  CHOWN: { exitCode: EXIT.FAILED, action: () => 'chown volumes' },
  BUILDER_ROOT: { exitCode: EXIT.FAILED, action: () => 'build' },
  USER_ENV: { exitCode: EXIT.FAILED, action: null },
  BUILDER: { exitCode: EXIT.FAILED, action: () => 'build' },
};

/** Exit code and printed message for any error. */
export function describeFailure(e: unknown): { exitCode: number; message: string } {
  if (e instanceof CliFailure) {
    return { exitCode: e.exitCode, message: joinChain(`failed to ${e.action}`, e.cause) };
  }
  if (e instanceof ExtenderError) {
    const m = EXTENDER[e.code];
    const head = m.action ? `failed to ${m.action(e)}: ${e.message}` : `failed to ${e.message}`;
    return { exitCode: m.exitCode, message: joinChain(head, e.cause) };
  }
  if (isCnbError(e)) return { exitCode: EXIT.FAILED, message: joinChain(`failed to ${e.message}`, e.cause) };
  const msg = e instanceof Error ? e.message : String(e);
  return { exitCode: EXIT.FAILED, message: joinChain(msg, e instanceof Error ? e.cause : undefined) };
}

/** `head: cause: cause…`, skipping a cause whose text the chain already contains. */
export function joinChain(head: string, cause: unknown): string {
  let out = head;
  let c = cause;
  for (let depth = 0; c !== undefined && c !== null && depth < 16; depth++) {
    const msg = (c instanceof Error ? c.message : String(c)).trim();
    if (msg !== '' && !out.includes(msg)) out += `: ${msg}`;
    c = c instanceof Error ? c.cause : undefined;
  }
  return out;
}

/** Every stack in the chain, for -log-level debug. */
export function stackChain(e: unknown): string {
  const parts: string[] = [];
  let c = e;
  for (let depth = 0; c instanceof Error && depth < 16; depth++) {
    parts.push(depth === 0 ? (c.stack ?? String(c)) : `Caused by: ${c.stack ?? String(c)}`);
    c = c.cause;
  }
  return parts.join('\n');
}

/** Logs the error (and, at debug, its stacks) and returns the exit code. */
export function reportFailure(e: unknown, log: Logger): number {
  const { exitCode, message } = describeFailure(e);
  const hint = e instanceof CliFailure ? undefined : hintFor(e);
  log.error(`${imagePaths(message, e)}${hint ? `\nhint: ${hint}` : ''}`);
  log.debug(stackChain(e));
  return exitCode;
}
