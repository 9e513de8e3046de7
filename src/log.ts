/** The logger every component takes as a parameter (no global logger). */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger that writes lines to a stream, dropping those below `level`. */
export function streamLogger(out: { write(s: string): unknown }, level: LogLevel = 'info'): Logger {
  const at = (l: LogLevel, prefix: string) => (msg: string) => {
    if (ORDER[l] >= ORDER[level]) out.write(`${prefix}${msg}\n`);
  };
  return { debug: at('debug', 'Debug: '), info: at('info', ''), warn: at('warn', 'Warning: '), error: at('error', 'ERROR: ') };
}

/** A logger that discards everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A logger that records lines, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (p: string) => (m: string) => void lines.push(`${p}${m}`);
  return { lines, debug: rec('debug: '), info: rec('info: '), warn: rec('warn: '), error: rec('error: ') };
}
