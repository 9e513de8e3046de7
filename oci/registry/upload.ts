import type { Readable } from 'node:stream';
import type { Digest } from '../digest.js';
import { RegistryError } from './errors.js';
import type { Logger } from './keychain.js';
import type { Reference } from './reference.js';
import { withRetry, type ResolvedRetry } from './retry.js';
import { repoScope, type Response, type Transport } from './transport.js';

/** A blob to push: its digest and size, and a factory for a fresh stream of its bytes. */
export interface BlobSource {
  digest: Digest;
  size: number;
  open(): Promise<Readable>;
}

export interface PutBlobOptions {
  /** Repositories on the same registry that may already hold the blob (cross-repository mount). */
  mountFrom?: readonly string[] | undefined;
  /** Upload in PATCH chunks of this many bytes when the blob is larger (default: one PUT). */
  chunkSize?: number | undefined;
  signal?: AbortSignal | undefined;
  onBytes?: ((n: number) => void) | undefined;
}

/** How a blob got there: already present, mounted from another repository, or uploaded. */
export type PutBlobResult = 'exists' | 'mounted' | 'uploaded';

function location(res: Response, what: string): URL {
  const loc = res.headers.location;
  const l = Array.isArray(loc) ? loc[0] : loc;
  if (!l) throw new RegistryError('REGISTRY', `${what}: HTTP ${res.status} without a Location header`, { status: res.status });
  return new URL(l, res.url);
}

function withDigest(u: URL, d: Digest): URL {
  const out = new URL(u);
  out.searchParams.set('digest', d);
  return out;
}

/**
 * Pushes one blob: HEAD first (skip what the registry has), then a cross-repository mount when
 * candidates are given, else an upload session finished by a monolithic PUT or by PATCH chunks and
 * a closing PUT. A failed attempt starts over (the blob is reopened; HEAD catches a finished one).
 */
export async function putBlob(
  t: Transport,
  ref: Reference,
  blob: BlobSource,
  retry: ResolvedRetry,
  opts: PutBlobOptions & { log?: Logger | undefined },
): Promise<PutBlobResult> {
  const repo = ref.repository;
  const what = `push blob ${blob.digest} to ${ref.name}`;
  const mounts = (opts.mountFrom ?? []).filter((r) => r !== repo);
  const scopes = [repoScope(repo, 'pull,push'), ...mounts.map((r) => repoScope(r, 'pull'))];
  const send = (method: 'HEAD' | 'POST' | 'PUT' | 'PATCH', url: string | URL, extra: { headers?: Record<string, string>; body?: Buffer | (() => Promise<Readable>) } = {}) =>
    t.send({ registry: ref.registry, method, url, scopes, signal: opts.signal, ...extra });

  return withRetry(retry, opts.signal, async () => {
    const head = await send('HEAD', `/v2/${repo}/blobs/${blob.digest}`);
    await head.body.dump();
    if (head.status === 200) return 'exists';
    if (head.status !== 404) await t.fail(head, 'HEAD', what, { digest: blob.digest });

    let upload: URL | undefined;
    for (const from of mounts) {
      const q = new URLSearchParams({ mount: blob.digest, from });
      const res = await send('POST', `/v2/${repo}/blobs/uploads/?${q}`);
      if (res.status === 201) {
        await res.body.dump();
        opts.log?.debug(`${what}: mounted from ${from}`);
        return 'mounted';
      }
      if (res.status !== 202) await t.fail(res, 'POST', what, { digest: blob.digest });
      await res.body.dump();
      upload = location(res, what); // the registry fell back to a plain upload session
      break;
    }
    if (!upload) {
      const res = await send('POST', `/v2/${repo}/blobs/uploads/`);
      if (res.status !== 202) await t.fail(res, 'POST', what, { digest: blob.digest });
      await res.body.dump();
      upload = location(res, what);
    }

    const octets = { 'content-type': 'application/octet-stream' };
    if (opts.chunkSize && blob.size > opts.chunkSize) {
      upload = await uploadChunks(blob, upload, opts.chunkSize, (url, chunk, start) =>
        send('PATCH', url, { headers: { ...octets, 'content-range': `${start}-${start + chunk.length - 1}`, 'content-length': String(chunk.length) }, body: chunk }),
      what, t, opts.onBytes);
      const res = await send('PUT', withDigest(upload, blob.digest), { headers: { 'content-length': '0' } });
      if (res.status !== 201) await t.fail(res, 'PUT', what, { digest: blob.digest });
      await res.body.dump();
    } else {
      const body = async (): Promise<Readable> => {
        const s = await blob.open();
        if (opts.onBytes) s.on('data', (c: Buffer) => opts.onBytes!(c.length));
        return s;
      };
      const res = await send('PUT', withDigest(upload, blob.digest), { headers: { ...octets, 'content-length': String(blob.size) }, body });
      if (res.status !== 201) await t.fail(res, 'PUT', what, { digest: blob.digest });
      await res.body.dump();
    }
    return 'uploaded';
  });
}

/** Streams the blob in chunks of at most `size` bytes (memory bounded by one chunk); returns the final Location. */
async function uploadChunks(
  blob: BlobSource,
  start: URL,
  size: number,
  patch: (url: URL, chunk: Buffer, start: number) => Promise<Response>,
  what: string,
  t: Transport,
  onBytes?: (n: number) => void,
): Promise<URL> {
  let url = start;
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const flush = async (): Promise<void> => {
    if (pendingLen === 0) return;
    const chunk = Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    const res = await patch(url, chunk, offset);
    if (res.status !== 202) await t.fail(res, 'PATCH', what, { digest: blob.digest });
    await res.body.dump();
    offset += chunk.length;
    onBytes?.(chunk.length);
    url = location(res, what);
  };
  const src = await blob.open();
  try {
    for await (const c of src as AsyncIterable<Buffer>) {
      let rest = c;
      while (rest.length > 0) {
        const take = Math.min(rest.length, size - pendingLen);
        pending.push(rest.subarray(0, take));
        pendingLen += take;
        rest = rest.subarray(take);
        if (pendingLen === size) await flush();
      }
    }
    await flush();
  } finally {
    src.destroy();
  }
  return url;
}
