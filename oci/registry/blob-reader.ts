import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Digester, type Digest } from '../digest.js';
import { OciError } from '../errors.js';
import { RegistryError } from './errors.js';
import type { Logger } from './keychain.js';
import type { Reference } from './reference.js';
import { backoffDelay, isRetriable, retryAfterOf, type ResolvedRetry } from './retry.js';
import { repoScope, type Response, type Transport } from './transport.js';

export interface BlobReadOptions {
  signal?: AbortSignal | undefined;
  /** Called with the number of new bytes as they arrive (not repeated after a resume). */
  onBytes?: ((n: number) => void) | undefined;
}

/** Parses `bytes <start>-<end>/<total>`; the start offset, or undefined. */
function rangeStart(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  const m = s ? /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(s.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * A blob as a stream of its bytes, verified for size and digest: a mismatch fails the stream
 * (and so whatever is writing it) with SIZE_MISMATCH or DIGEST_MISMATCH. A reset connection or a
 * body cut short is retried with `Range: bytes=<received>-`; a server that ignores Range answers 200
 * and the bytes already delivered are skipped. Each failure counts against `retry.attempts`.
 */
export function openBlobStream(
  t: Transport,
  ref: Reference,
  desc: { digest: Digest; size: number },
  retry: ResolvedRetry,
  opts: BlobReadOptions & { log?: Logger | undefined },
): Readable {
  const what = `blob ${desc.digest} of ${ref.name}`;
  async function* chunks(): AsyncGenerator<Buffer> {
    const digester = new Digester();
    let offset = 0;
    let failures = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      let res: Response | undefined;
      try {
        res = await t.send({
          registry: ref.registry,
          method: 'GET',
          url: `/v2/${ref.repository}/blobs/${desc.digest}`,
          headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
          scopes: [repoScope(ref.repository, 'pull')],
          signal: opts.signal,
          highWaterMark: 1024 * 1024,
        });
        let skip = 0;
        if (res.status === 206 && offset > 0) {
          const start = rangeStart(res.headers['content-range']);
          if (start !== offset) {
            res.body.destroy();
            throw new RegistryError('REGISTRY', `${what}: asked for bytes from ${offset}, server sent Content-Range ${String(res.headers['content-range'])}`, { status: 206, digest: desc.digest, reference: ref.toString() });
          }
        } else if (res.status === 200) {
          skip = offset; // Range ignored: the whole blob again; drop what was already delivered.
        } else {
          await t.fail(res, 'GET', what, { reference: ref.toString(), digest: desc.digest });
        }
        for await (const raw of res.body as AsyncIterable<Buffer>) {
          let c = raw;
          if (skip > 0) {
            if (c.length <= skip) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          if (offset + c.length > desc.size) {
            throw new OciError('SIZE_MISMATCH', `${what}: more than the expected ${desc.size} bytes`, { digest: desc.digest, reference: ref.toString() });
          }
          digester.update(c);
          offset += c.length;
          opts.onBytes?.(c.length);
          yield c;
        }
        if (offset < desc.size) {
          // A clean end before the descriptor's size: the body was cut short.
          throw new RegistryError('REGISTRY', `${what}: body ended after ${offset} of ${desc.size} bytes`, { status: res.status, temporary: true, digest: desc.digest, reference: ref.toString() });
        }
        const got = digester.digest();
        if (got !== desc.digest) {
          throw new OciError('DIGEST_MISMATCH', `${what}: content digest ${got} does not match`, { digest: desc.digest, reference: ref.toString() });
        }
        return;
      } catch (e) {
        res?.body.destroy();
        failures++;
        if (opts.signal?.aborted || !isRetriable(e) || failures >= retry.attempts) throw e;
        const delay = backoffDelay(failures, retry, retryAfterOf(e));
        opts.log?.debug(`${what}: ${describe(e)} at byte ${offset}; retrying in ${delay} ms (${failures}/${retry.attempts - 1})`);
        await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : undefined);
      }
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string; url?: string };
  if (e instanceof RegistryError) return e.message;
  return err.code ?? err.message ?? String(e);
}
