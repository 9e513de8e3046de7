import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import type { Agent, Dispatcher } from 'undici';
import { isDigest, sha256, type Digest } from '../digest.js';
import { OciError } from '../errors.js';
import type { Image } from '../image.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from '../media-types.js';
import type { ConfigFile, Descriptor, Index, Manifest, Platform } from '../types.js';
import { openBlobStream, type BlobReadOptions } from './blob-reader.js';
import { downloadBlobToFile, type BlobDownloadOptions } from './blob-download.js';
import { isRegistryError } from './errors.js';
import { anonymousKeychain, type Keychain, type Logger } from './keychain.js';
import { undici } from './undici.js';
import { hostPlatform } from '../platform.js';
import { selectManifest } from './platform.js';
import { toReference, type Reference } from './reference.js';
import { RemoteImage } from './remote-image.js';
import { resolveRetry, withRetry, type ResolvedRetry, type RetryOptions } from './retry.js';
import { readCapped, repoScope, Transport } from './transport.js';
import { putBlob, type BlobSource, type PutBlobOptions, type PutBlobResult } from './upload.js';
import { pullToLayout, type PullOptions, type PullResult } from './pull.js';

export interface RegistryOptions {
  keychain?: Keychain;
  /** Registries (`host[:port]` as in references) that may be reached over plain HTTP or with unchecked TLS. */
  insecure?: readonly string[];
  /** undici dispatcher for all requests (default: an Agent owned and closed by this Registry). */
  dispatcher?: Dispatcher;
  userAgent?: string;
  retry?: RetryOptions;
  /** Parallel blob transfers in push and pull (default 4). */
  concurrency?: number;
  /** Platform chosen from an index when a call does not say (default: the host's, on linux). */
  platform?: Platform;
  /** Blobs larger than this are uploaded in PATCH chunks of this size (default: monolithic PUT). */
  chunkSize?: number;
  log?: Logger;
}

/** A manifest or index as served: raw bytes (verified), media type, digest. */
export interface RemoteManifest {
  raw: Buffer;
  mediaType: string;
  digest: Digest;
  size: number;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** Accept header for every manifest read: OCI and Docker schema2, images and indexes. */
export const MANIFEST_ACCEPT = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(', ');
const MANIFEST_CAP = 4 * 1024 * 1024;
const CONFIG_CAP = 8 * 1024 * 1024;

function headerOf(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The media type a manifest declares: Content-Type if it is one we know, else the JSON's mediaType. */
function manifestMediaType(contentType: string | undefined, raw: Buffer): string {
  const ct = contentType?.split(';')[0]?.trim();
  if (ct && (isManifestMediaType(ct) || isIndexMediaType(ct))) return ct;
  try {
    const v = JSON.parse(raw.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof v.mediaType === 'string') return v.mediaType;
    return Array.isArray(v.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  } catch {
    return ct ?? 'application/octet-stream';
  }
}

/**
 * A registry client (distribution spec v2). One instance holds the connection pool, the auth state
 * per registry host and the token cache; share it for a whole run and close() it at the end.
 */
export class Registry {
  readonly retry: ResolvedRetry;
  readonly platform: Platform;
  private readonly transport: Transport;
  private readonly ownedAgent: Agent | undefined;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly log: Logger | undefined;
  private readonly chunkSize: number | undefined;

  constructor(opts: RegistryOptions = {}) {
    this.ownedAgent = opts.dispatcher ? undefined : new (undici().Agent)({ keepAliveTimeout: 10_000 });
    this.transport = new Transport({
      keychain: opts.keychain ?? anonymousKeychain,
      insecure: new Set(opts.insecure ?? []),
      dispatcher: opts.dispatcher ?? this.ownedAgent!,
      userAgent: opts.userAgent ?? 'cnb-extender',
      log: opts.log,
    });
    this.retry = resolveRetry(opts.retry);
    this.platform = opts.platform ?? hostPlatform();
    this.limit = pLimit(Math.max(1, opts.concurrency ?? 4));
    this.log = opts.log;
    this.chunkSize = opts.chunkSize;
  }

  async close(): Promise<void> {
    await this.transport.close();
    await this.ownedAgent?.close();
  }

  /** Runs `fn` under the shared transfer limit (push and pull share one budget). */
  limited<T>(fn: () => Promise<T>): Promise<T> {
    return this.limit(fn);
  }

  private onRetry = (what: string) => (e: unknown, n: number, delay: number): void => {
    this.log?.debug(`${what}: ${(e as Error).message ?? String(e)}; retry ${n}/${this.retry.attempts - 1} in ${delay} ms`);
  };

  /** GET a manifest or index by tag or digest; the bytes are checked against the digest asked for or announced. */
  async manifest(refIn: Reference | string, opts: CallOptions = {}): Promise<RemoteManifest> {
    const ref = toReference(refIn);
    const what = `manifest ${ref.toString()}`;
    return withRetry(this.retry, opts.signal, async () => {
      const res = await this.transport.send({
        registry: ref.registry, method: 'GET', url: `/v2/${ref.repository}/manifests/${ref.identifier}`,
        headers: { accept: MANIFEST_ACCEPT }, scopes: [repoScope(ref.repository, 'pull')], signal: opts.signal,
      });
      if (res.status !== 200) await this.transport.fail(res, 'GET', what, { reference: ref.toString() });
      const raw = await readCapped(res.body, MANIFEST_CAP, what);
      const digest = sha256(raw);
      const announced = headerOf(res.headers, 'docker-content-digest');
      const expected = ref.digest ?? (announced && isDigest(announced) ? announced : undefined);
      if (expected !== undefined && digest !== expected) {
        throw new OciError('DIGEST_MISMATCH', `${what}: content digest ${digest} does not match ${expected}`, { reference: ref.toString(), digest: expected });
      }
      const mediaType = manifestMediaType(headerOf(res.headers, 'content-type'), raw);
      if (!isManifestMediaType(mediaType) && !isIndexMediaType(mediaType)) {
        throw new OciError('UNSUPPORTED_MEDIA_TYPE', `${what}: unsupported manifest media type ${mediaType}`, { reference: ref.toString(), digest });
      }
      return { raw, mediaType, digest, size: raw.length };
    }, this.onRetry(what));
  }

  /** HEAD a manifest: its descriptor, or null when the registry says 404. Other failures throw. */
  async head(refIn: Reference | string, opts: CallOptions = {}): Promise<Descriptor | null> {
    const ref = toReference(refIn);
    const what = `manifest ${ref.toString()}`;
    return withRetry(this.retry, opts.signal, async () => {
      const res = await this.transport.send({
        registry: ref.registry, method: 'HEAD', url: `/v2/${ref.repository}/manifests/${ref.identifier}`,
        headers: { accept: MANIFEST_ACCEPT }, scopes: [repoScope(ref.repository, 'pull')], signal: opts.signal,
      });
      await res.body.dump();
      if (res.status === 404) return null;
      if (res.status !== 200) await this.transport.fail(res, 'HEAD', what, { reference: ref.toString() });
      const digest = headerOf(res.headers, 'docker-content-digest');
      const size = Number(headerOf(res.headers, 'content-length'));
      const mediaType = headerOf(res.headers, 'content-type')?.split(';')[0]?.trim();
      if (!digest || !isDigest(digest) || !Number.isFinite(size) || !mediaType) {
        // Some registries omit Docker-Content-Digest on HEAD: fall back to GET.
        const m = await this.manifest(ref, opts);
        return { mediaType: m.mediaType, digest: m.digest, size: m.size };
      }
      return { mediaType, digest, size };
    }, this.onRetry(what));
  }

  /**
   * Whether the manifest can be read with our credentials: false on 404, 401 and 403, and on any
   * other failure (unreachable, 5xx after retries), which is logged at debug. Aborts still throw.
   */
  async checkReadAccess(refIn: Reference | string, opts: CallOptions = {}): Promise<boolean> {
    const ref = toReference(refIn);
    try {
      return (await this.head(ref, opts)) !== null;
    } catch (e) {
      opts.signal?.throwIfAborted();
      this.log?.debug(`${ref.toString()} is not readable: ${isRegistryError(e) || e instanceof OciError ? e.message : String((e as Error).message ?? e)}`);
      return false;
    }
  }

  /** A verified stream of one blob of `ref`'s repository (resumed with Range after resets). */
  openBlob(refIn: Reference | string, desc: { digest: Digest; size: number }, opts: BlobReadOptions = {}): Readable {
    return openBlobStream(this.transport, toReference(refIn), desc, this.retry, { ...opts, log: this.log });
  }

  /**
   * Downloads one blob of `ref`'s repository into `path` (a new file), verified and fsynced; large
   * blobs in parallel Range requests (see blob-download.ts). The caller removes `path` on failure.
   */
  downloadBlob(refIn: Reference | string, desc: { digest: Digest; size: number }, path: string, opts: Omit<BlobDownloadOptions, 'log'> = {}): Promise<void> {
    return downloadBlobToFile(this.transport, toReference(refIn), desc, this.retry, path, { ...opts, log: this.log });
  }

  /** A small blob (a config) read into memory, verified, capped. */
  async readBlob(refIn: Reference | string, desc: { digest: Digest; size: number }, opts: CallOptions & { maxBytes?: number } = {}): Promise<Buffer> {
    const cap = opts.maxBytes ?? CONFIG_CAP;
    if (desc.size > cap) throw new OciError('TOO_LARGE', `blob ${desc.digest}: ${desc.size} bytes is over the ${cap}-byte limit`, { digest: desc.digest });
    return readCapped(this.openBlob(refIn, desc, opts), cap, `blob ${desc.digest}`);
  }

  /** Whether the repository has a blob (HEAD). */
  async hasBlob(refIn: Reference | string, digest: Digest, opts: CallOptions = {}): Promise<boolean> {
    const ref = toReference(refIn);
    return withRetry(this.retry, opts.signal, async () => {
      const res = await this.transport.send({ registry: ref.registry, method: 'HEAD', url: `/v2/${ref.repository}/blobs/${digest}`, scopes: [repoScope(ref.repository, 'pull')], signal: opts.signal });
      await res.body.dump();
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      return this.transport.fail(res, 'HEAD', `blob ${digest} of ${ref.name}`, { reference: ref.toString(), digest });
    });
  }

  /**
   * The image at `ref`. An index resolves to the manifest for `platform` (default: this registry's
   * platform); manifest and config bytes are kept exactly as served.
   */
  async image(refIn: Reference | string, opts: CallOptions & { platform?: Platform } = {}): Promise<RemoteImage> {
    let ref = toReference(refIn);
    let m = await this.manifest(ref, opts);
    for (let depth = 0; isIndexMediaType(m.mediaType); depth++) {
      if (depth >= 4) throw new OciError('UNSUPPORTED_MEDIA_TYPE', `${ref.toString()}: indexes nested too deeply`, { reference: ref.toString() });
      const index = JSON.parse(m.raw.toString('utf8')) as Index;
      const desc = selectManifest(index, opts.platform ?? this.platform, ref.toString());
      ref = ref.withDigest(desc.digest);
      m = await this.manifest(ref, opts);
    }
    const at = ref.withDigest(m.digest);
    const manifest = JSON.parse(m.raw.toString('utf8')) as Manifest;
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new OciError('INVALID_JSON', `manifest ${at.toString()}: missing config or layers`, { reference: at.toString(), digest: m.digest });
    }
    const rawConfig = await this.readBlob(at, manifest.config, opts);
    let config: ConfigFile;
    try {
      config = JSON.parse(rawConfig.toString('utf8')) as ConfigFile;
    } catch {
      throw new OciError('INVALID_JSON', `config ${manifest.config.digest} of ${at.toString()}: not JSON`, { reference: at.toString(), digest: manifest.config.digest });
    }
    return new RemoteImage(at, m.raw, manifest, m.mediaType, m.digest, rawConfig, config, (d) => this.openBlob(at, d, { signal: opts.signal }));
  }

  /**
   * Pulls `ref` (resolved for the platform) into the OCI layout at `dir` with digests preserved,
   * reporting progress (bytes, layers) to `onProgress` and the logger. See pull.ts.
   */
  async pull(refIn: Reference | string, dir: string, opts: PullOptions = {}): Promise<PullResult> {
    return pullToLayout(this, toReference(refIn), dir, { log: this.log, platform: this.platform, ...opts });
  }

  /** Pushes one blob (HEAD, mount, upload); see upload.ts. */
  async putBlob(refIn: Reference | string, blob: BlobSource, opts: PutBlobOptions = {}): Promise<PutBlobResult> {
    return putBlob(this.transport, toReference(refIn), blob, this.retry, { chunkSize: this.chunkSize, ...opts, log: this.log });
  }

  /** PUTs a manifest or index by the reference's tag, or by digest when it has no tag. Returns the digest. */
  async putManifest(refIn: Reference | string, raw: Buffer, mediaType: string, opts: CallOptions = {}): Promise<Digest> {
    const ref = toReference(refIn);
    const digest = sha256(raw);
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw new OciError('DIGEST_MISMATCH', `push manifest ${ref.toString()}: content digest is ${digest}`, { reference: ref.toString(), digest: ref.digest });
    }
    const what = `push manifest ${ref.toString()}`;
    return withRetry(this.retry, opts.signal, async () => {
      const res = await this.transport.send({
        registry: ref.registry, method: 'PUT', url: `/v2/${ref.repository}/manifests/${ref.tag ?? digest}`,
        headers: { 'content-type': mediaType, 'content-length': String(raw.length) }, body: raw,
        scopes: [repoScope(ref.repository, 'pull,push')], signal: opts.signal,
      });
      if (res.status !== 201 && res.status !== 200) await this.transport.fail(res, 'PUT', what, { reference: ref.toString() });
      await res.body.dump();
      const announced = headerOf(res.headers, 'docker-content-digest');
      if (announced && isDigest(announced) && announced !== digest) {
        throw new OciError('DIGEST_MISMATCH', `${what}: registry stored ${announced}, expected ${digest}`, { reference: ref.toString(), digest });
      }
      return digest;
    }, this.onRetry(what));
  }

  /**
   * Pushes an image: its layer blobs (in parallel, skipping what is there, mounting from
   * `mountFrom`), the config, then the manifest by tag (or by digest). Returns the manifest descriptor.
   */
  async write(refIn: Reference | string, image: Image, opts: CallOptions & { mountFrom?: readonly string[]; onBytes?: (n: number) => void } = {}): Promise<Descriptor> {
    const ref = toReference(refIn);
    const seen = new Set<string>();
    const blobs: BlobSource[] = [];
    for (const l of image.layers) {
      if (seen.has(l.descriptor.digest)) continue;
      seen.add(l.descriptor.digest);
      blobs.push({ digest: l.descriptor.digest, size: l.descriptor.size, open: () => l.open() });
    }
    const cfg = image.manifest.config;
    if (!seen.has(cfg.digest)) {
      blobs.push({ digest: cfg.digest, size: cfg.size, open: async () => Readable.from([image.rawConfig]) });
    }
    const results = await Promise.all(blobs.map((b) => this.limit(() => this.putBlob(ref, b, { mountFrom: opts.mountFrom, signal: opts.signal, onBytes: opts.onBytes }))));
    this.log?.debug(`push ${ref.toString()}: ${blobs.length} blobs (${results.filter((r) => r === 'uploaded').length} uploaded, ${results.filter((r) => r === 'mounted').length} mounted)`);
    const digest = await this.putManifest(ref, image.rawManifest, image.manifestMediaType, opts);
    return { mediaType: image.manifestMediaType, digest, size: image.rawManifest.length };
  }

  /**
   * Pushes a multi-platform index: every image by digest, then the index by the reference's tag.
   * `raw` must list exactly those images' digests.
   */
  async writeIndex(refIn: Reference | string, index: { raw: Buffer; mediaType?: string; images: readonly Image[] }, opts: CallOptions = {}): Promise<Descriptor> {
    const ref = toReference(refIn);
    const parsed = JSON.parse(index.raw.toString('utf8')) as Index;
    const mediaType = index.mediaType ?? parsed.mediaType ?? MediaType.OciIndex;
    const byDigest = new Map(index.images.map((i) => [i.digest as string, i]));
    for (const d of parsed.manifests) {
      if (!byDigest.has(d.digest)) throw new OciError('IMAGE_NOT_FOUND', `push index ${ref.toString()}: no image given for ${d.digest}`, { reference: ref.toString(), digest: d.digest });
    }
    for (const img of index.images) await this.write(ref.withDigest(img.digest), img, opts);
    const digest = await this.putManifest(ref, index.raw, mediaType, opts);
    return { mediaType, digest, size: index.raw.length };
  }
}
