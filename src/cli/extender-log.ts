import type { Logger } from '../log.js';

// The lifecycle's log format (lifecycle log/default_logger.go): info and debug lines as they are,
// `Warning: ` and `ERROR: ` prefixes (yellow and red, bold, unless -no-color), all on stdout.

export type LifecycleLogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** apex/log ParseLevel: the names the lifecycle accepts for -log-level. */
export function parseLogLevel(s: string): LifecycleLogLevel | undefined {
  switch (s) {
    case 'debug':
    case 'info':
    case 'warn':
    case 'error':
    case 'fatal':
      return s;
    case 'warning':
      return 'warn';
    default:
      return undefined;
  }
}

const ORDER: Record<LifecycleLogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, fatal: 4 };

export interface LevelLogger extends Logger {
  setLevel(l: LifecycleLogLevel): void;
  setColor(on: boolean): void;
  readonly level: LifecycleLogLevel;
}

export function lifecycleLogger(out: { write(s: string): unknown }, opts: { level?: LifecycleLogLevel; color?: boolean } = {}): LevelLogger {
  let level: LifecycleLogLevel = opts.level ?? 'info';
  let color = opts.color ?? false;
  const style = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const line = (l: LifecycleLogLevel, prefix: string) => (msg: string) => {
    if (ORDER[l] < ORDER[level]) return;
    out.write(`${prefix}${msg}${msg.endsWith('\n') ? '' : '\n'}`);
  };
  return {
    get level() {
      return level;
    },
    setLevel(l) {
      level = l;
    },
    setColor(on) {
      color = on;
    },
    debug: line('debug', ''),
    info: line('info', ''),
    warn: line('warn', style('33;1', 'Warning: ')),
    error: line('error', style('31;1', 'ERROR: ')),
  };
}
