// Test helpers of the exporter tests: small layer tars, hand-made image layouts, a run image, registry clients.
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { afterEach } from 'vitest';
import { MediaType, OciLayout, Registry, appendLayers, digestHex, sha256, storeLayer, type Digest, type Image } from '../../oci/index.js';
import type { Logger } from '../../src/log.js';

export const SHARED_FIXTURE = join(import.meta.dirname, '../../../shared/fixtures/lifecycle-extended-run');
export const SHARED_FIXTURE_IMAGE = join(SHARED_FIXTURE, 'sha256_c72eda1cc5b6c41360b95d73f881eff9d0655e56c693a2bc6cc9312c9e70aa24');

export interface TarFile { name: string; data?: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string; mode?: number; uid?: number; gid?: number; mtime?: Date }

/** A small tar made with tar-stream (USTAR), for test inputs. */
export async function makeTar(files: TarFile[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((res, rej) => { pack.on('end', res); pack.on('error', rej); });
  for (const f of files) {
    await new Promise<void>((res, rej) => {
      pack.entry({ name: f.name, type: f.type ?? 'file', mode: f.mode ?? (f.type === 'directory' ? 0o755 : 0o644), uid: f.uid ?? 0, gid: f.gid ?? 0,
        mtime: f.mtime ?? new Date(1700000000000), uname: 'someone', gname: 'somegroup', ...(f.linkname ? { linkname: f.linkname } : {}) },
      f.type === 'file' || f.type === undefined ? f.data ?? '' : '', (err) => (err ? rej(err) : res()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface LayoutLayer { bytes: Buffer; mediaType: string; diffID: Digest; present: boolean }

/** Writes an image layout by hand (only the blobs of present layers), like the extender's output. */
export async function writeHandLayout(dir: string, opts: {
  manifestMediaType: string; configMediaType: string; layers: LayoutLayer[]; config: Record<string, unknown>; fakeSizes?: boolean;
}): Promise<{ manifestDigest: Digest; configDigest: Digest }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<Digest> => {
    const d = sha256(b);
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(d)), b);
    return d;
  };
  const config = Buffer.from(JSON.stringify({ ...opts.config, rootfs: { type: 'layers', diff_ids: opts.layers.map((l) => l.diffID) } }));
  const configDigest = await put(config);
  const layers = [];
  for (const l of opts.layers) {
    const d = l.present ? await put(l.bytes) : sha256(l.bytes);
    layers.push({ mediaType: l.mediaType, digest: d, size: opts.fakeSizes ? l.bytes.length + 12345 : l.bytes.length });
  }
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: opts.manifestMediaType,
    config: { mediaType: opts.configMediaType, digest: configDigest, size: opts.fakeSizes ? 1 : config.length }, layers }));
  const manifestDigest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: opts.manifestMediaType, digest: manifestDigest, size: opts.fakeSizes ? 7 : manifest.length }] }));
  return { manifestDigest, configDigest };
}

export function gz(b: Buffer): Buffer {
  return gzipSync(b);
}

export { MediaType };

/**
 * A run image in a layout at `dir`: a copy of the busybox fixture layout plus one layer holding
 * /etc/run-image-marker (history `createdBy`), written under the tag `run`.
 */
export async function busyboxRunImage(busybox: string, dir: string, o: { createdBy: string; replaceIndex?: boolean }): Promise<{ layout: OciLayout; run: Image }> {
  await cp(busybox, dir, { recursive: true });
  const layout = await OciLayout.open(dir);
  const base = await layout.image({ tag: 'latest' });
  const extra = await storeLayer(Readable.from([await makeTar([{ name: 'etc/run-image-marker', data: 'run' }])]), layout.blobs);
  const run = appendLayers(base, { layer: extra, history: { created_by: o.createdBy } });
  await layout.writeImage(run, { tag: 'run', ...(o.replaceIndex ? { replaceIndex: true } : {}) });
  return { layout, run };
}

/** Makes clients of the test registry at `host()` (plain HTTP, quick retries); each is closed after its test. */
export function registryClients(host: () => string): (log?: Logger) => Registry {
  const clients: Registry[] = [];
  afterEach(async () => {
    while (clients.length) await clients.pop()!.close();
  });
  return (log) => {
    const r = new Registry({ insecure: [host()], retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 }, ...(log ? { log } : {}) });
    clients.push(r);
    return r;
  };
}
