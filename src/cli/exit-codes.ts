import { stackChain } from './errors.js';
import { oneLine } from './format.js';
import { hintFor, humanizeSystemError, imagePaths } from './hints.js';

/**
 * Exit codes of the `cnb-extender` commands (the `extender` phase uses the lifecycle's codes, see
 * errors.ts). Documented in docs/cli.md.
 */
export const EXIT_CODES = {
  ok: 0,
  /** Anything not covered below (an I/O error, a bug). */
  failed: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** The Dockerfile does not parse or is not a valid extension Dockerfile. */
  invalidDockerfile: 3,
  /** A RUN returned non-zero (or was killed). */
  runFailed: 4,
  /** A COPY/ADD source, destination, --chown user or USER is wrong. */
  buildInput: 5,
  /** The input image or layout cannot be read (missing, corrupt, digest mismatch, sparse). */
  image: 6,
  /** Registry access failed (auth, network, not found). */
  registry: 7,
  /** Interrupted (Ctrl-C / SIGTERM). */
  interrupted: 130,
} as const;

interface Coded {
  name?: string;
  code?: string;
  message?: string;
  cause?: unknown;
}

/** Maps a typed error from any module to the command's exit code. */
export function exitCodeFor(e: unknown): number {
  const err = (e ?? {}) as Coded;
  switch (err.name) {
    case 'ApplyOutputError':
      return exitCodeFor(err.cause);
    case 'DockerfileError':
      return EXIT_CODES.invalidDockerfile;
    case 'BuildError':
      if (err.code === 'INVALID_DOCKERFILE') return EXIT_CODES.invalidDockerfile;
      if (err.code === 'RUN_FAILED') return EXIT_CODES.runFailed;
      if (err.code === 'ABORTED') return EXIT_CODES.interrupted;
      if (['CONTEXT_ESCAPE', 'SOURCE_NOT_FOUND', 'BAD_DESTINATION', 'UNKNOWN_USER', 'BAD_ARGUMENT', 'SYMLINK_LOOP', 'UNSUPPORTED'].includes(err.code ?? '')) {
        return EXIT_CODES.buildInput;
      }
      return EXIT_CODES.failed;
    case 'ExecutorError':
      if (err.code === 'ABORTED') return EXIT_CODES.interrupted;
      return err.code === 'UNKNOWN_USER' || err.code === 'UNKNOWN_GROUP' || err.code === 'NO_WORKDIR' ? EXIT_CODES.buildInput : EXIT_CODES.failed;
    case 'OciError':
    case 'RegistryError':
      return ['REGISTRY', 'UNAUTHORIZED', 'NOT_FOUND'].includes(err.code ?? '') ? EXIT_CODES.registry : EXIT_CODES.image;
    case 'SnapshotError':
      return err.code === 'UNSAFE_PATH' || err.code === 'BAD_LAYER' ? EXIT_CODES.image : EXIT_CODES.failed;
    case 'AbortError':
      return EXIT_CODES.interrupted;
    default:
      return EXIT_CODES.failed;
  }
}

/** What went wrong (the error's message and its causes, cleaned) and, where it helps, what to do. */
export function describeError(e: unknown): { message: string; hint?: string } {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 8; depth++) {
    const msg = (cur instanceof Error ? cur.message : String(cur)).trim();
    if (msg !== '' && !parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  const message = imagePaths(humanizeSystemError(withLocation(parts.join(': '), e)), e);
  const hint = hintFor(e);
  return hint ? { message, hint } : { message };
}

/** `file:line: instruction: ` in front of a message from a Dockerfile step that does not say where it is. */
function withLocation(msg: string, e: unknown): string {
  const x = e as { file?: unknown; line?: unknown; instruction?: unknown } | null;
  if (!x || typeof x.line !== 'number') return msg;
  const where = `${typeof x.file === 'string' ? `${x.file}:` : 'line '}${x.line}`;
  if (msg.includes(`${where}:`) || msg.includes(`${where} `)) return msg;
  const instr = typeof x.instruction === 'string' && !msg.includes(x.instruction) ? `${oneLine(x.instruction)}: ` : '';
  return `${where}: ${instr}${msg}`;
}

/**
 * One message for the user: `ERROR: ` and what failed, where (the error's message and its causes
 * joined by `: ` when they add something), then a `hint:` line on what to do when there is one.
 * Stacks only when asked (log level debug).
 */
export function formatError(e: unknown, withStack = false): string {
  const d = describeError(e);
  let text = `ERROR: ${d.message}`;
  if (d.hint) text += `\nhint: ${d.hint}`;
  if (withStack) text += `\n${stackChain(e)}`;
  return text;
}
