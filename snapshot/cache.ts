// The layer cache: each layer extracted once, in overlay format, keyed by its diffID, and merged
// root filesystems keyed by chainID (layers.md §1.7, containerd's snapshot keys).
//
//   <dir>/layers/<diffID hex>/{fs/,meta.json}   one layer as an overlayfs lowerdir
//   <dir>/merged/<chainID hex>/{fs/,meta.json}  all layers of an image applied in merged format
//   <dir>/fixups/<chainID hex>/{fs/,meta.json}  directory attributes stacked above a layer that
//                                               needed parents it did not list (cache-fixup.ts)
//   <dir>/tmp/<kind>-<hex16>-<uuid>/            entries being built (same filesystem: rename is atomic)
//
// Complete or absent: an entry is built in tmp/, its diffID checked while the tar streams through,
// meta.json written last, the filesystem synced, then the directory renamed into place. Two
// processes building the same entry both finish; the first rename wins, the second finds the name
// taken (ENOTEMPTY), drops its copy and uses the winner's. A crash leaves only a temp directory,
// which verifyCache removes.
//
// READ-ONLY FOR BUILDS. Nothing may write below layers/ or merged/ once an entry is in place:
// - the overlay snapshotter stacks exactly what layerDirs(image) returns (layer and fixup dirs),
//   only as lowerdirs (never upperdir or workdir, never a chroot target, never bind-mounted
//   writable); stacking layerDir() results by hand would miss the fixups;
// - the scan snapshotter copies merged/<hex>/fs into its own work dir (reflink where the
//   filesystem can, else a full copy) and builds there; it must never hardlink files out of the
//   cache (an in-place write, chmod, chown or setxattr through a shared inode would change the
//   cache: BuildKit's hardlink-farm caveat, layers.md §4.3);
// - removing an entry is verifyCache's job (rename out of place, then delete).
// verifyCache({ deep: true }) detects an entry that was modified anyway (see cache-entry.ts).
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { digestHex, sha256, syncDir, type Digest, type Image, type Layer } from '../oci/index.js';
import { AREA, fingerprint, fingerprintMismatch, readMeta, tempName, writeMeta, type EntryKind, type EntryMeta } from './cache-entry.js';
import { planFixup, writeFixup, type FixupPlan } from './cache-fixup.js';
import { ownerState, stampOf } from './owner.js';
import { SnapshotError } from './errors.js';
import { extractLayer, materialize } from './materialize.js';
import type { Logger } from './snapshotter-log.js';

/**
 * A cache area, root-only: layers carry setuid files and device nodes, which another local user
 * must not reach through the cache (containerd keeps its snapshot dirs 0700 for the same reason).
 * Areas made by earlier versions (0755) are tightened too.
 */
async function privateDir(p: string): Promise<void> {
  await mkdir(p, { recursive: true, mode: 0o700 });
  await chmod(p, 0o700);
}

/** ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)) (image-spec config.md). */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIDs) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256(`${prev} ${d}`));
  }
  return out;
}

export interface LayerCacheOptions {
  log?: Logger;
  /** Layers extracted at once (default 2: gunzip and the extraction each keep a core busy). */
  concurrency?: number;
  /** syncfs before an entry is published, so that a crash cannot leave short files in a complete-looking entry (default true). */
  durable?: boolean;
}

const HEARTBEAT_MS = 30_000;
/** A temp entry untouched for this long belongs to no running build (the builder touches it every 30 s). */
const DEFAULT_STALE_MS = 10 * 60_000;

const execFileAsync = promisify(execFile);

export class LayerCache {
  readonly dir: string;
  private readonly log: Logger | undefined;
  private readonly durable: boolean;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly inflight = new Map<string, Promise<string>>();
  private swept: Promise<void> | undefined;

  constructor(dir: string, opts: LayerCacheOptions = {}) {
    this.dir = dir;
    this.log = opts.log;
    this.durable = opts.durable ?? true;
    this.limit = pLimit(opts.concurrency ?? 2);
  }

  /** `<dir>/layers/<diffID hex>/fs`, extracted in overlay format if it was not there yet. */
  layerDir(layer: Layer, opts: { signal?: AbortSignal } = {}): Promise<string> {
    const hex = digestHex(layer.diffID);
    return this.ensure('layer', hex, async (fsDir) => {
      const stats = await extractLayer(layer, fsDir, { format: 'overlay', ...this.logOpt(), ...(opts.signal ? { signal: opts.signal } : {}) });
      this.log?.debug(`cache: layer ${layer.descriptor.digest} extracted (${stats.entries} entries, ${stats.bytes} bytes)`);
      return { digest: layer.descriptor.digest, mediaType: layer.descriptor.mediaType, implicitDirs: stats.implicitDirs };
    });
  }

  /**
   * The overlayfs lowerdirs of an image, base first: each layer's directory (extracted in
   * parallel, `concurrency` at a time), followed by its fixup directory where it has one. This,
   * not layerDir() per layer, is what a mount must stack.
   */
  async layerDirs(image: Image, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    // allSettled, not all: on a failure the other extractions still finish (publishing their
    // entry or removing their temp dir) before we return, so a caller that exits on the error
    // leaves nothing half-built behind.
    const settled = await Promise.allSettled(image.layers.map((l) => this.layerDir(l, opts)));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const dirs = settled.map((r) => (r as PromiseFulfilledResult<string>).value);
    const chain = chainIDs(image.layers.map((l) => l.diffID));
    const out: string[] = [];
    for (const [i, dir] of dirs.entries()) {
      const layer = image.layers[i]!;
      const meta = await readMeta(dirname(dir), 'layer', digestHex(layer.diffID));
      const implicit = meta?.implicitDirs ?? [];
      const plan = implicit.length > 0 ? planFixup(dir, implicit, [...out].reverse(), layer.descriptor.digest) : null;
      out.push(dir);
      if (plan !== null) out.push(await this.fixupDir(chain[i]!, plan));
    }
    return out;
  }

  private fixupDir(chainID: Digest, plan: FixupPlan): Promise<string> {
    return this.ensure('fixup', digestHex(chainID), async (fsDir) => {
      writeFixup(fsDir, plan);
      return {};
    });
  }

  /** `<dir>/merged/<chainID hex>/fs`: all layers of the image applied in merged format (read-only). */
  mergedRootfs(image: Image, opts: { signal?: AbortSignal } = {}): Promise<string> {
    const diffIDs = image.layers.map((l) => l.diffID);
    const top = chainIDs(diffIDs).at(-1) ?? sha256('');
    return this.ensure('merged', digestHex(top), async (fsDir) => {
      const stats = await materialize(image, fsDir, { ...this.logOpt(), ...(opts.signal ? { signal: opts.signal } : {}) });
      this.log?.debug(`cache: rootfs ${top} materialized (${stats.layers} layers, ${stats.entries} entries)`);
      return { diffIDs };
    });
  }

  /** verifyCache on this cache's directory. */
  verify(opts: VerifyOptions = {}): Promise<CacheReport> {
    return verifyCache(this.dir, { ...this.logOpt(), ...opts });
  }

  private logOpt(): { log?: Logger } {
    return this.log ? { log: this.log } : {};
  }

  private ensure(kind: EntryKind, hex: string, fill: (fsDir: string) => Promise<Partial<EntryMeta>>): Promise<string> {
    const key = `${kind}/${hex}`;
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.build(kind, hex, fill).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async build(kind: EntryKind, hex: string, fill: (fsDir: string) => Promise<Partial<EntryMeta>>): Promise<string> {
    // Once per cache object: what killed runs left in tmp/ goes first (warm runs too).
    this.swept ??= sweepTemps(join(this.dir, 'tmp'), DEFAULT_STALE_MS, this.log).then(() => undefined, () => undefined);
    await this.swept;
    const area = join(this.dir, AREA[kind]);
    const final = join(area, hex);
    if (await readMeta(final, kind, hex)) return join(final, 'fs');
    return this.limit(async () => {
      if (await readMeta(final, kind, hex)) return join(final, 'fs'); // another build of ours finished while we queued
      const tmpArea = join(this.dir, 'tmp');
      await privateDir(tmpArea);
      await privateDir(area);
      const tmp = join(tmpArea, tempName(kind, hex));
      const fsDir = join(tmp, 'fs');
      mkdirSync(fsDir, { recursive: true });
      chmodSync(fsDir, 0o755); // the root of an overlay mount takes the top lowerdir's root attributes
      const heartbeat = setInterval(() => void utimes(tmp, new Date(), new Date()).catch(() => {}), HEARTBEAT_MS);
      heartbeat.unref();
      try {
        const extra = await fill(fsDir);
        const format = kind === 'layer' ? 'overlay' : kind === 'merged' ? 'merged' : 'dirs';
        const meta: EntryMeta = { kind, id: `sha256:${hex}`, format, ...extra, fingerprint: fingerprint(fsDir) };
        writeMeta(tmp, meta);
        if (this.durable) await this.syncfs(tmp);
        try {
          await rename(tmp, final);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
          // Lost the race to another process: its entry is as good as ours.
          await rm(tmp, { recursive: true, force: true });
          if (await readMeta(final, kind, hex)) return join(final, 'fs');
          throw new SnapshotError('IO', `cache: ${final} exists but is not a complete entry (run verifyCache)`, { path: final });
        }
        await syncDir(area); // the rename into the area survives a crash
        return join(final, 'fs');
      } catch (e) {
        await rm(tmp, { recursive: true, force: true }).catch(() => {});
        throw e;
      } finally {
        clearInterval(heartbeat);
      }
    });
  }

  /** syncfs(2) of the cache's filesystem via coreutils `sync -f`: Node has no syncfs or batch fsync. */
  private async syncfs(path: string): Promise<void> {
    try {
      await execFileAsync('sync', ['-f', path]);
    } catch (e) {
      this.log?.warn(`cache: sync -f ${path} failed (${(e as Error).message}); the entry is not crash-safe until the kernel writes it back`);
    }
  }
}

/**
 * Removes temp entries nobody is building any more: those of a process that is gone (a killed
 * run, owner.ts) at once, others once untouched for `staleMs` (the builder touches its own every
 * 30 s). Returns the names removed.
 */
async function sweepTemps(tmpArea: string, staleMs: number, log?: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(tmpArea).catch(() => [] as string[])) {
    const p = join(tmpArea, name);
    const stamp = stampOf(name);
    const owner = stamp === null ? 'unknown' : ownerState(stamp);
    if (owner === 'alive') continue;
    if (owner === 'unknown') {
      const st = await stat(p).catch(() => null);
      if (st === null || Date.now() - st.mtimeMs < staleMs) continue;
    }
    await rm(p, { recursive: true, force: true });
    removed.push(name);
    log?.info(`cache: removed stale temp entry ${p}${owner === 'dead' ? ' (its process is gone)' : ''}`);
  }
  return removed;
}

export interface VerifyOptions {
  /** Also re-walk every entry and compare it with its fingerprint (O(entries) lstat, no reads). */
  deep?: boolean;
  /** Remove incomplete and corrupt entries (renamed out of place first, then deleted). */
  repair?: boolean;
  /** Temp entries untouched for longer than this are removed (default 10 minutes; 0 when no build can be running). */
  staleTempAfterMs?: number;
  log?: Logger;
}

export interface CacheReport {
  /** Complete entries, as `layers/<hex>` or `merged/<hex>`. */
  ok: string[];
  /** Entries without a valid meta.json (cannot happen short of manual edits or disk damage). */
  incomplete: string[];
  /** Entries whose tree no longer matches its fingerprint (deep only), with the reason. */
  corrupt: Array<{ entry: string; reason: string }>;
  /** Temp entries removed. */
  staleTemps: string[];
  /** Entries removed by repair. */
  removed: string[];
}

/**
 * Consistency check for crash recovery: lists incomplete and (with `deep`) corrupt entries,
 * removes stale temp entries, and with `repair` removes the bad entries so they are rebuilt.
 */
export async function verifyCache(dir: string, opts: VerifyOptions = {}): Promise<CacheReport> {
  const report: CacheReport = { ok: [], incomplete: [], corrupt: [], staleTemps: [], removed: [] };
  const staleMs = opts.staleTempAfterMs ?? DEFAULT_STALE_MS;
  const tmpArea = join(dir, 'tmp');
  report.staleTemps.push(...(await sweepTemps(tmpArea, staleMs, opts.log)));
  for (const kind of ['layer', 'merged', 'fixup'] as const) {
    const area = AREA[kind];
    for (const hex of await readdir(join(dir, area)).catch(() => [] as string[])) {
      const rel = `${area}/${hex}`;
      const entry = join(dir, area, hex);
      const meta = /^[a-f0-9]{64}$/.test(hex) ? await readMeta(entry, kind, hex) : null;
      let bad: string | null = null;
      if (meta === null) {
        report.incomplete.push(rel);
        bad = 'incomplete';
      } else if (opts.deep) {
        const why = await stat(join(entry, 'fs')).then(() => fingerprintMismatch(join(entry, 'fs'), meta.fingerprint), () => 'fs/ is missing');
        if (why !== null) {
          report.corrupt.push({ entry: rel, reason: why });
          bad = why;
        }
      }
      if (bad === null) {
        report.ok.push(rel);
        continue;
      }
      opts.log?.warn(`cache: ${entry}: ${bad}`);
      if (opts.repair) {
        await mkdir(tmpArea, { recursive: true });
        const dead = join(tmpArea, `dead-${hex.slice(0, 16)}-${Date.now()}`);
        await rename(entry, dead);
        await rm(dead, { recursive: true, force: true });
        report.removed.push(rel);
      }
    }
  }
  return report;
}
