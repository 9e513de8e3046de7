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

/**
 * One message for the user: the error's own message, then its causes joined by `: ` when they add
 * something; a stack only when asked (log level debug).
 */
export function formatError(e: unknown, withStack = false): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 8; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (!parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  let text = `ERROR: ${parts.join(': ')}`;
  if (withStack && e instanceof Error && e.stack) text += `\n${e.stack}`;
  return text;
}
