/**
 * SIGINT/SIGTERM abort the run instead of killing the process: a RUN in progress is stopped, temp
 * directories are removed, and the command exits 130. A second signal is left to Node's default
 * (the process ends at once).
 */
export function onInterrupt(): { signal: AbortSignal; dispose(): void } {
  const abort = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    dispose();
    abort.abort(new Error(`interrupted (${sig})`));
  };
  const dispose = () => {
    process.off('SIGINT', handler).off('SIGTERM', handler);
  };
  process.once('SIGINT', handler).once('SIGTERM', handler);
  return { signal: abort.signal, dispose };
}
