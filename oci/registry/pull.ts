import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setMaxListeners } from 'node:events';
import { syncDir } from '../atomic-file.js';
import type { Digest } from '../digest.js';
import { OciError } from '../errors.js';
import { OciLayout } from '../layout.js';
import { removeDeadTempSiblings, tempSiblingName } from '../owner.js';
import type { Descriptor, Platform } from '../types.js';
import type { Logger } from './keychain.js';
import type { Reference } from './reference.js';
import type { Registry } from './registry.js';
import type { RemoteImage } from './remote-image.js';

export interface PullProgress {
  layersTotal: number;
  layersDone: number;
  bytesTotal: number;
  bytesDone: number;
  /** The layer this event is about, if any. */
  layer?: Digest;
  event: 'start' | 'bytes' | 'layer' | 'done';
}

export interface PullOptions {
  signal?: AbortSignal | undefined;
  platform?: Platform;
  /** `org.opencontainers.image.ref.name` in the layout (default: the reference's tag). */
  tag?: string;
  /** 'none' writes manifest and config only (a sparse layout). Default 'all'. */
  layers?: 'all' | 'none';
  onProgress?: (p: PullProgress) => void;
  log?: Logger | undefined;
  /**
   * The image `ref` resolves to, when the caller has already read it with `Registry.image` (to
   * learn its digest first): its manifest and config are then not fetched again.
   */
  image?: RemoteImage | undefined;
  /** Layers at least this large are fetched in parallel Range requests (default 96 MiB; 0: never). */
  splitThreshold?: number | undefined;
}

export interface PullResult {
  image: RemoteImage;
  descriptor: Descriptor;
  dir: string;
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Pulls `ref` into an OCI layout at `dir`, digests preserved (manifest and config bytes as served).
 * A new directory appears only when complete (built beside it, then renamed); an existing layout
 * gets the blobs first and its index.json last. Layer blobs are fetched in parallel under the
 * registry's transfer limit, each verified before it is renamed into place.
 */
export async function pullToLayout(registry: Registry, ref: Reference, dir: string, opts: PullOptions = {}): Promise<PullResult> {
  const log = opts.log;
  const image = opts.image ?? await registry.image(ref, { signal: opts.signal, ...(opts.platform ? { platform: opts.platform } : {}) });
  const existed = await stat(dir).then(() => true, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return false;
    throw new OciError('IO', `stat ${dir}: ${e.message}`, { path: dir }, { cause: e });
  });
  // The stamp lets the next pull remove this dir if we are killed (owner.ts).
  const target = existed ? dir : tempSiblingName(dir, randomBytes(6).toString('hex'));
  if (!existed) {
    await mkdir(dirname(dir), { recursive: true });
    await removeDeadTempSiblings(dir);
  }
  try {
    const layout = await OciLayout.create(target);
    const wanted = opts.layers === 'none' ? [] : [...new Map(image.layers.map((l) => [l.descriptor.digest, l])).values()];
    const p: PullProgress = { layersTotal: wanted.length, layersDone: 0, bytesTotal: wanted.reduce((n, l) => n + l.descriptor.size, 0), bytesDone: 0, event: 'start' };
    const report = (event: PullProgress['event'], layer?: Digest): void => opts.onProgress?.({ ...p, event, ...(layer ? { layer } : {}) });
    report('start');
    log?.info(`pulling ${image.reference.toString()}: ${wanted.length} layers, ${mib(p.bytesTotal)}`);

    // One failed layer stops the others (they would only be deleted).
    const stop = new AbortController();
    let firstError: unknown;
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    // Every layer in flight listens on it (the request and the pipeline): not a leak.
    setMaxListeners(0, signal);
    const results = await Promise.allSettled(wanted.map((l) => registry.limited(async () => {
      const d = l.descriptor;
      const have = await layout.blobs.stat(d.digest);
      if (have?.size === d.size) {
        p.bytesDone += d.size;
      } else {
        const temp = layout.blobs.tempPath();
        try {
          // Verified (size and digest) and fsynced when it resolves.
          await registry.downloadBlob(image.reference, d, temp, { signal, onBytes: (n) => { p.bytesDone += n; report('bytes', d.digest); }, ...(opts.splitThreshold !== undefined ? { splitThreshold: opts.splitThreshold } : {}) });
          await layout.blobs.putFile(temp, d.digest);
        } catch (e) {
          if (!stop.signal.aborted) firstError = e;
          stop.abort();
          await rm(temp, { force: true });
          throw e;
        }
      }
      p.layersDone++;
      report('layer', d.digest);
      log?.info(`pulled layer ${p.layersDone}/${p.layersTotal} ${d.digest} (${mib(d.size)})`);
    })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      opts.signal?.throwIfAborted();
      throw firstError ?? failed.reason; // not the aborts that the first failure caused in the others
    }
    const tag = opts.tag ?? ref.tag;
    const descriptor = await layout.writeImage(image, { layers: opts.layers ?? 'all', ...(tag !== undefined ? { tag } : {}) });
    if (!existed) {
      try {
        await rename(target, dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw new OciError('IO', `rename ${target} to ${dir}: ${(e as Error).message}`, { path: dir }, { cause: e });
        // Someone else created it meanwhile: add our image to theirs (blobs are content-addressed).
        await rm(target, { recursive: true, force: true });
        return pullToLayout(registry, ref, dir, { ...opts, image });
      }
      await syncDir(dirname(dir));
    }
    report('done');
    return { image, descriptor, dir };
  } catch (e) {
    if (!existed) await rm(target, { recursive: true, force: true });
    throw e;
  }
}

