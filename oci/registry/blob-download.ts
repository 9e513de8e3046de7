import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Digester, type Digest } from '../digest.js';
import { OciError } from '../errors.js';
import { RegistryError } from './errors.js';
import type { Logger } from './keychain.js';
import type { Reference } from './reference.js';
import { backoffDelay, isRetriable, retryAfterOf, type ResolvedRetry } from './retry.js';
import { repoScope, type Response, type ResponseBody, type Transport } from './transport.js';

export interface BlobDownloadOptions {
  signal?: AbortSignal | undefined;
  /** Called with the number of new bytes as they arrive (never repeated after a resume). */
  onBytes?: ((n: number) => void) | undefined;
  log?: Logger | undefined;
  /**
   * Blobs at least this large are fetched as `parts` parallel Range requests when the server
   * honours Range (default 96 MiB; 0 turns splitting off). More sockets drain more loopback/TCP
   * receive window per event-loop wake-up, which is what the one-big-layer tail of a pull waits on;
   * but each socket adds CPU (fresh read buffers, page faults), so only the largest layers are
   * split: at 32 MiB, 5 of debian-large's 6 layers split into 16 sockets and the pull used more
   * CPU and wall time than without splitting (bench/PULL.md, session 8).
   */
  splitThreshold?: number | undefined;
  /** Number of parallel ranges for a split blob (default 4). */
  parts?: number | undefined;
}

export const DEFAULT_SPLIT_THRESHOLD = 96 * 1024 * 1024;
const DEFAULT_PARTS = 4;
/** Chunks are gathered into writes of at least this size (one threadpool round trip each)… */
const WRITE_BATCH = 1024 * 1024;
/** …and the socket is paused while this much waits for the write in flight. */
const PAUSE_AT = 4 * 1024 * 1024;
/** Read-back buffer for hashing the parts after the first (reused: no fresh pages per chunk). */
const READBACK = 1024 * 1024;

/** `bytes <start>-<end>/<total>` → [start, end] (inclusive), or undefined. */
function contentRange(v: string | string[] | undefined): [number, number] | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  const m = s ? /^bytes (\d+)-(\d+)\/(?:\d+|\*)$/.exec(s.trim()) : null;
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

interface Part {
  readonly index: number;
  readonly start: number;
  /** Exclusive; part 0 grows to the blob's size when the server ignores Range. */
  end: number;
  /** Next byte wanted from the network. */
  offset: number;
  /** Bytes of this part on disk, from `start` (what the read-back hasher may read). */
  written: number;
  done: boolean;
  /** Wakes the read-back hasher waiting on this part. */
  wake: (() => void) | undefined;
}

/**
 * Downloads one blob into `path` (created, must not exist), verified for size and digest, fsynced.
 * The body is taken with 'data' events and gathered into ~1 MiB positional writes, and hashed in
 * the same pass. Blobs of `splitThreshold` bytes or more are fetched as parallel Range requests
 * if the first one comes back 206; the first part is hashed as it arrives, the later ones are read
 * back from the file in order as they land (page cache, one reused buffer). Resets and short bodies
 * are resumed with Range from the last byte received, per part; every failure counts against
 * `retry.attempts` for the whole blob. A 200 to a Range request (Range ignored) is read from the
 * start, the bytes already received are skipped. On failure the file is left for the caller to
 * remove (it is a temp name).
 */
export async function downloadBlobToFile(
  t: Transport,
  ref: Reference,
  desc: { digest: Digest; size: number },
  retry: ResolvedRetry,
  path: string,
  opts: BlobDownloadOptions = {},
): Promise<void> {
  const what = `blob ${desc.digest} of ${ref.name}`;
  const size = desc.size;
  const threshold = opts.splitThreshold ?? DEFAULT_SPLIT_THRESHOLD;
  const nParts = Math.max(1, Math.floor(opts.parts ?? DEFAULT_PARTS));
  const split = threshold > 0 && size >= threshold && nParts > 1;
  // One failed part stops the others.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const fh = await open(path, 'wx+').catch((e: unknown) => {
    throw new OciError('IO', `create ${path}: ${(e as Error).message}`, { path }, { cause: e });
  });
  const digester = new Digester();
  let failures = 0;

  const parts: Part[] = [];
  const step = split ? Math.ceil(size / nParts) : size;
  for (let s = 0, i = 0; i === 0 || s < size; s += step, i++) {
    parts.push({ index: i, start: s, end: Math.min(size, s + step), offset: s, written: 0, done: false, wake: undefined });
    if (!split) break;
  }
  if (!split) parts[0]!.end = size;

  let splitDecided = !split;
  let launchRest: (ranged: boolean) => void = () => {};
  const restStarted = new Promise<boolean>((ok) => { launchRest = ok; });

  async function fetchPart(p: Part): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      let res: Response | undefined;
      try {
        // Part 0 of a split blob asks for its range first; whatever the server does decides the rest.
        const ranged = p.offset > 0 || p.end < size;
        res = await t.send({
          registry: ref.registry,
          method: 'GET',
          url: `/v2/${ref.repository}/blobs/${desc.digest}`,
          headers: ranged ? { range: p.end < size ? `bytes=${p.offset}-${p.end - 1}` : `bytes=${p.offset}-` } : {},
          scopes: [repoScope(ref.repository, 'pull')],
          signal,
          highWaterMark: 1024 * 1024,
        });
        let skip = 0;
        // The response ends where the part does: its socket can be kept for the next request.
        let exact = false;
        if (res.status === 206 && ranged) {
          const cr = contentRange(res.headers['content-range']);
          if (!cr || cr[0] !== p.offset || cr[1] < cr[0]) {
            res.body.destroy();
            throw new RegistryError('REGISTRY', `${what}: asked for bytes from ${p.offset}, server sent Content-Range ${String(res.headers['content-range'])}`, { status: 206, digest: desc.digest, reference: ref.toString() });
          }
          exact = cr[1] === p.end - 1;
        } else if (res.status === 200) {
          skip = p.offset; // Range ignored: the whole blob again; drop what came before this part's offset.
        } else {
          await t.fail(res, 'GET', what, { reference: ref.toString(), digest: desc.digest });
        }
        if (p.index === 0 && !splitDecided) {
          splitDecided = true;
          // 206 for the first range: fetch the others alongside. 200: this one response is the whole blob.
          if (res.status !== 206) p.end = size;
          launchRest(res.status === 206);
        }
        if (res.status === 200) exact = p.end === size;
        await drain(p, res.body, skip, exact);
        if (p.offset < p.end) {
          throw new RegistryError('REGISTRY', `${what}: body ended after ${p.offset} of ${size} bytes`, { status: res.status, temporary: true, digest: desc.digest, reference: ref.toString() });
        }
        return;
      } catch (e) {
        res?.body.destroy();
        failures++;
        if (signal.aborted || !isRetriable(e) || failures >= retry.attempts) throw e;
        const delay = backoffDelay(failures, retry, retryAfterOf(e));
        opts.log?.debug(`${what}: ${describe(e)} at byte ${p.offset}; retrying in ${delay} ms (${failures}/${retry.attempts - 1})`);
        await sleep(delay, undefined, { signal });
      }
    }
  }

  /** Reads one response body into the file at the part's offset; resolves at its end or the part's. */
  function drain(p: Part, body: ResponseBody, skipIn: number, exact: boolean): Promise<void> {
    let skip = skipIn;
    const inline = p.index === 0; // part 0 is hashed as it arrives; it is always the first in order
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let writing: Promise<void> | undefined;
    let writeError: unknown;
    let ended = false;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (e?: unknown): void => {
        if (settled) return;
        settled = true;
        body.off('data', onData);
        body.off('end', onEnd);
        // 'error' stays handled: we may destroy the body after this (the rest of a 200, an abort).
        body.off('close', onClose);
        // Whatever is gathered is written before the part reports (a retry resumes at p.offset).
        void flushAll().then(() => (e === undefined ? resolve() : reject(e)), reject);
      };
      const flushAll = async (): Promise<void> => {
        while (writing) await writing;
        if (writeError) throw writeError;
        if (batchBytes > 0) {
          startWrite();
          while (writing) await writing;
          if (writeError) throw writeError;
        }
      };
      const startWrite = (): void => {
        const bufs = batch;
        const n = batchBytes;
        const pos = p.start + p.written;
        batch = [];
        batchBytes = 0;
        writing = writeAll(fh, bufs, n, pos).then(() => {
          p.written += n;
          p.wake?.();
          writing = undefined;
          if (batchBytes >= WRITE_BATCH) startWrite();
          else if (!ended && !settled && body.isPaused()) body.resume();
        }, (e: unknown) => {
          writeError = new OciError('IO', `write ${path}: ${(e as Error).message}`, { path }, { cause: e });
          writing = undefined;
          finish(writeError);
        });
      };
      const onData = (raw: Buffer): void => {
        let c = raw;
        if (skip > 0) {
          if (c.length <= skip) {
            skip -= c.length;
            return;
          }
          c = c.subarray(skip);
          skip = 0;
        }
        const room = p.end - p.offset;
        let last = false;
        if (c.length >= room) {
          if (c.length > room && p.end === size) {
            finish(new OciError('SIZE_MISMATCH', `${what}: more than the expected ${size} bytes`, { digest: desc.digest, reference: ref.toString() }));
            body.destroy();
            return;
          }
          c = c.subarray(0, room);
          last = true;
        }
        if (inline) digester.update(c);
        p.offset += c.length;
        opts.onBytes?.(c.length);
        batch.push(c);
        batchBytes += c.length;
        if (!writing && batchBytes >= WRITE_BATCH) startWrite();
        else if (writing && batchBytes >= PAUSE_AT) body.pause();
        if (last) {
          ended = true;
          finish();
          // A response that ends here is let run to its end (nothing is left but the end of the
          // message), so the connection is reused; one that goes on (more than the range asked
          // for, or a 200 for a middle part) is cut: the rest is not ours.
          if (exact) body.resume();
          else if (!body.readableEnded) body.destroy();
        }
      };
      const onEnd = (): void => {
        ended = true;
        finish();
      };
      const onError = (e: unknown): void => finish(e);
      // Destroyed without 'end' or 'error' (the socket went away): a short body, retried.
      const onClose = (): void => finish();
      body.on('data', onData);
      body.on('end', onEnd);
      body.on('error', onError);
      body.on('close', onClose);
    });
  }

  /** Hashes the parts after the first, in order, reading back what their writers have put on disk. */
  async function hashRest(first: Promise<void>): Promise<void> {
    // Part 0 feeds the digester as it arrives: the read-back of part 1 starts once it is complete.
    await first;
    const buf = Buffer.allocUnsafe(READBACK);
    for (const p of parts.slice(1)) {
      let h = 0;
      const len = p.end - p.start;
      while (h < len) {
        while (p.written <= h) {
          signal.throwIfAborted();
          if (p.done && p.written <= h) throw new OciError('IO', `${what}: part ${p.index} ended at ${p.written} bytes`, { path });
          await new Promise<void>((ok) => { p.wake = ok; });
          p.wake = undefined;
        }
        const n = Math.min(READBACK, p.written - h);
        const { bytesRead } = await fh.read(buf, 0, n, p.start + h);
        if (bytesRead <= 0) throw new OciError('IO', `read back ${path} at ${p.start + h}: end of file`, { path });
        digester.update(buf.subarray(0, bytesRead));
        h += bytesRead;
      }
    }
  }

  // A part's failure (or an abort) wakes the hasher so that it can notice.
  const wakeAll = (): void => { for (const p of parts) p.wake?.(); };
  signal.addEventListener('abort', wakeAll, { once: true });
  const tasks: Promise<void>[] = [];
  const runPart = (p: Part): Promise<void> => fetchPart(p).then(() => { p.done = true; p.wake?.(); }, (e: unknown) => {
    p.done = true;
    stop.abort();
    throw e;
  });
  try {
    tasks.push(runPart(parts[0]!));
    if (split) {
      tasks.push((async () => {
        // Part 0 decides: 206 → the rest run alongside; 200 → part 0 is the whole blob.
        const ranged = await Promise.race([restStarted, tasks[0]!.then(() => false)]);
        if (!ranged) {
          parts.length = 1;
          return;
        }
        const rest = parts.slice(1);
        await Promise.all([...rest.map(runPart), hashRest(tasks[0]!)]);
      })().catch((e: unknown) => {
        stop.abort();
        throw e;
      }));
    }
    const settled = await Promise.allSettled(tasks);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      opts.signal?.throwIfAborted();
      throw firstReal(settled) ?? failed.reason;
    }
    const got = digester.digest();
    if (digester.size !== size) {
      throw new OciError('SIZE_MISMATCH', `${what}: got ${digester.size} of ${size} bytes`, { digest: desc.digest, reference: ref.toString() });
    }
    if (got !== desc.digest) {
      throw new OciError('DIGEST_MISMATCH', `${what}: content digest ${got} does not match`, { digest: desc.digest, reference: ref.toString() });
    }
    try {
      await fh.sync();
    } catch (e) {
      throw new OciError('IO', `fsync ${path}: ${(e as Error).message}`, { path }, { cause: e });
    }
  } finally {
    signal.removeEventListener('abort', wakeAll);
    await fh.close().catch(() => {});
  }
}

/** The first rejection that is not the AbortError our own stop caused in the other parts. */
function firstReal(settled: PromiseSettledResult<void>[]): unknown {
  for (const r of settled) if (r.status === 'rejected' && (r.reason as { name?: string } | null)?.name !== 'AbortError') return r.reason;
  return undefined;
}

async function writeAll(fh: FileHandle, bufs: Buffer[], n: number, pos: number): Promise<void> {
  let at = pos;
  let left = n;
  let list = bufs;
  while (left > 0) {
    const { bytesWritten } = list.length === 1 ? await fh.write(list[0]!, 0, list[0]!.length, at) : await fh.writev(list, at);
    if (bytesWritten <= 0) throw new Error('write returned 0');
    at += bytesWritten;
    left -= bytesWritten;
    if (left > 0) {
      // A short write: drop what went out and go on with the rest.
      let k = bytesWritten;
      const rest: Buffer[] = [];
      for (const b of list) {
        if (k >= b.length) {
          k -= b.length;
          continue;
        }
        rest.push(k > 0 ? b.subarray(k) : b);
        k = 0;
      }
      list = rest;
    }
  }
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (e instanceof RegistryError) return e.message;
  return err.code ?? err.message ?? String(e);
}
