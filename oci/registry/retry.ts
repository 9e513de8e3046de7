import { setTimeout as sleep } from 'node:timers/promises';
import { isOciError } from '../errors.js';
import { isRegistryError } from './errors.js';

export interface RetryOptions {
  /** Total attempts including the first (default 5). */
  attempts?: number;
  /** First backoff delay in ms (default 250); doubles each attempt. */
  baseDelayMs?: number;
  /** Cap for one delay, including a server's Retry-After (default 30 s). */
  maxDelayMs?: number;
}

export type ResolvedRetry = Required<RetryOptions>;

export function resolveRetry(o: RetryOptions = {}): ResolvedRetry {
  return { attempts: Math.max(1, o.attempts ?? 5), baseDelayMs: o.baseDelayMs ?? 250, maxDelayMs: o.maxDelayMs ?? 30_000 };
}

// Network failures worth another try: the peer went away mid-request or mid-body.
const RETRIABLE_NET_CODES = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** Whether an error from one attempt should be retried (never an abort, a digest mismatch or a 4xx). */
export function isRetriable(e: unknown): boolean {
  if (isRegistryError(e)) return e.temporary;
  if (isOciError(e)) return false;
  const err = e as { name?: string; code?: string; cause?: unknown } | null;
  if (!err) return false;
  if (err.name === 'AbortError') return false;
  if (err.code && RETRIABLE_NET_CODES.has(err.code)) return true;
  return err.cause !== undefined && err.cause !== e ? isRetriable(err.cause) : false;
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unparsable. */
export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s.trim() === '') return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Delay before attempt `n + 1` (n ≥ 1): the server's Retry-After if given, else exponential with jitter. */
export function backoffDelay(n: number, r: ResolvedRetry, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, r.maxDelayMs);
  const exp = Math.min(r.baseDelayMs * 2 ** (n - 1), r.maxDelayMs);
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/** Error carrying the server's Retry-After so the retry loop can honour it. */
export function retryAfterOf(e: unknown): number | undefined {
  return (e as { retryAfterMs?: number } | null)?.retryAfterMs;
}

/**
 * Runs `attempt(n)` until it succeeds, fails with a non-retriable error, or attempts run out.
 * Sleeps honour the AbortSignal.
 */
export async function withRetry<T>(
  r: ResolvedRetry,
  signal: AbortSignal | undefined,
  attempt: (n: number) => Promise<T>,
  onRetry?: (e: unknown, n: number, delayMs: number) => void,
): Promise<T> {
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (e) {
      if (n >= r.attempts || !isRetriable(e) || signal?.aborted) throw e;
      const delay = backoffDelay(n, r, retryAfterOf(e));
      onRetry?.(e, n, delay);
      await sleep(delay, undefined, signal ? { signal } : undefined);
    }
  }
}
