// The overlay snapshotter: the image's cached layer directories (overlay format, read-only) are
// the lowerdirs, each step writes into a fresh upperdir, and the step's layer is computed from
// that upperdir alone (overlay-diff.ts). A committed upperdir becomes a read-only lowerdir of the
// next step. Nothing is copied or walked in proportion to the image.
//
// The swap to a fresh upper is on the path of every commit. Its small directory operations are
// synchronous: each is microseconds, while an awaited fs call is a round trip through the libuv
// pool that costs milliseconds on a loaded machine (a dozen of them per swap).
//
// Work dir layout (all names short and relative to it, so the mount data stays small):
//   l/<n>      symlinks to the lowerdirs (cached layer dirs and earlier uppers), n = stack position
//   u/<k> w/<k> upperdir and workdir of mount k
//   merged     the mount point: Workspace.root
import { chmod, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { chmodSync, chownSync, lstatSync, mkdirSync, realpathSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { storeLayer, type Image, type Layer } from '../oci/index.js';
import { anyIgnored, engineIgnored } from './ignore.js';
import { layerTar, planLayer } from './layer-writer.js';
import { overlayChanges } from './overlay-diff.js';
import { LowerView } from './overlay-lower.js';
import { mountOverlay, mountsUnder, remountOverlay, removeWorkDir, unmount, unmountStale } from './overlay-mount.js';
import { SnapshotError } from './errors.js';
import type { CommitOptions, CommitResult, LayerDirs, Snapshotter, Workspace } from './snapshotter.js';
import type { Logger } from './snapshotter-log.js';
import { displayPath, type RelPath } from './walk-path.js';

export class OverlaySnapshotter implements Snapshotter {
  readonly name = 'overlay' as const;
  constructor(
    private readonly cache: LayerDirs,
    private readonly log?: Logger,
  ) {}

  async open(image: Image, opts: { workDir: string; signal?: AbortSignal }): Promise<Workspace> {
    const stale = await unmountStale(opts.workDir);
    if (stale.length > 0) this.log?.warn(`overlay: unmounted ${stale.length} stale mount(s) under ${opts.workDir}`);
    await removeWorkDir(opts.workDir);
    // Root-only: the upperdirs get whatever RUN makes (setuid files, device nodes).
    await mkdir(opts.workDir, { recursive: true, mode: 0o700 });
    await chmod(opts.workDir, 0o700);
    for (const d of ['l', 'u', 'w', 'merged']) await mkdir(join(opts.workDir, d), { recursive: true });
    // The cache's layerDirs, not layerDir per layer: it adds the fixup dirs some layers need.
    const dirs = await this.cache.layerDirs(image, opts.signal ? { signal: opts.signal } : {});
    opts.signal?.throwIfAborted();
    const ws = new OverlayWorkspace(opts.workDir, this.cache, this.log);
    await ws.start(dirs);
    return ws;
  }
}

class OverlayWorkspace implements Workspace {
  readonly root: string;
  /** lowerdirs, bottom first (absolute). */
  private readonly stack: string[] = [];
  private mountCount = 0;
  private upper = '';
  private work = '';
  private mounted = false;
  private closed = false;
  private volatile = true;
  /** Set when a commit failed after its upper was retired: the step's changes have no layer. */
  private lost: string | undefined;
  /** Symlinks made in l/: stack position → target. */
  private readonly linked = new Map<number, string>();

  constructor(
    private readonly dir: string,
    private readonly cache: LayerDirs,
    private readonly log?: Logger,
  ) {
    this.root = join(dir, 'merged');
  }

  async start(layerDirs: readonly string[]): Promise<void> {
    this.stack.push(...layerDirs);
    await this.mountFresh();
  }

  /** The lowerdirs for a mount, topmost first, each directory once (its topmost occurrence: the
   * kernel refuses a layer twice, and the lower copy of a repeated layer changes nothing). */
  private async lowerNames(): Promise<string[]> {
    const seen = new Set<string>();
    const names: string[] = [];
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const real = realpathSync(this.stack[i]!);
      if (seen.has(real)) continue;
      seen.add(real);
      const name = `l/${i}`;
      // Stack positions never change what they hold: a link made for an earlier mount is reused.
      if (this.linked.get(i) !== real) {
        rmSync(join(this.dir, name), { force: true });
        symlinkSync(real, join(this.dir, name));
        this.linked.set(i, real);
      }
      names.push(name);
    }
    if (names.length === 0) {
      // FROM scratch: overlayfs needs at least one lowerdir.
      await mkdir(join(this.dir, 'l', 'empty'), { recursive: true });
      names.push('l/empty');
    }
    return names;
  }

  /** A new upperdir and workdir, with the root attributes of the current lower view. */
  private async freshUpper(): Promise<{ k: number; upper: string; work: string }> {
    const k = this.mountCount++;
    const upper = join(this.dir, 'u', String(k));
    const work = join(this.dir, 'w', String(k));
    mkdirSync(upper);
    mkdirSync(work);
    await this.rootLikeLower(upper);
    return { k, upper, work };
  }

  private async mountFresh(): Promise<void> {
    const { k, upper, work } = await this.freshUpper();
    this.upper = upper;
    this.work = work;
    const m = { cwd: this.dir, lowers: await this.lowerNames(), upper: `u/${k}`, work: `w/${k}`, target: 'merged' };
    try {
      await mountOverlay({ ...m, volatile: this.volatile });
    } catch (e) {
      if (!this.volatile) throw e;
      // Kernels before 5.10 do not know `volatile`.
      this.volatile = false;
      await rm(work, { recursive: true, force: true });
      await mkdir(work);
      await mountOverlay(m);
      this.log?.debug(`overlay: mounted without volatile (${(e as Error).message})`);
    }
    this.mounted = true;
  }

  /**
   * Retires the mounted upperdir (it becomes the top lowerdir unless it holds nothing at all),
   * stacks `cached` (a cached layer dir) above it when given, and mounts a fresh upper over the
   * new stack, in one umount+mount. On failure the stack and the mount are as before.
   */
  private async nextUpper(opts: { cached?: string; keepUpper?: boolean } = {}): Promise<void> {
    const cached = opts.cached;
    const old = { upper: this.upper, work: this.work };
    // keepUpper: a layer is being written from it, so it must not be removed even if it looks empty.
    const keep = opts.keepUpper === true || (await readdir(old.upper)).length > 0 || !(await this.sameRootAsLower(old.upper));
    const depth = this.stack.length;
    if (keep) this.stack.push(old.upper);
    if (cached !== undefined) this.stack.push(cached);
    const fresh = await this.freshUpper();
    const m = { cwd: this.dir, lowers: await this.lowerNames(), upper: `u/${fresh.k}`, work: `w/${fresh.k}`, target: 'merged', volatile: this.volatile };
    try {
      if (this.mounted) await remountOverlay(m);
      else await mountOverlay(m);
    } catch (e) {
      this.stack.length = depth;
      await rm(fresh.upper, { recursive: true, force: true });
      await rm(fresh.work, { recursive: true, force: true });
      // A remount that unmounted but could not mount leaves nothing mounted.
      this.mounted = (await mountsUnder(this.root)).length > 0;
      throw e;
    }
    this.upper = fresh.upper;
    this.work = fresh.work;
    this.mounted = true;
    rmSync(old.work, { recursive: true, force: true });
    if (!keep) rmSync(old.upper, { recursive: true, force: true });
  }

  /** Whether an upperdir's root has the mode and owner of the lower view's root (`chmod 700 /` changes it). */
  private async sameRootAsLower(upper: string): Promise<boolean> {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) return true;
    const [a, b] = await Promise.all([lstat(upper), lstat(top)]);
    return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
  }

  /**
   * The merged root is the upperdir's root inode: give it the attributes the lower view's root has
   * (else `/` would take our mkdir's mode and times, e.g. 0700 under umask 077).
   */
  private async rootLikeLower(dir: string): Promise<void> {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) return;
    const st = lstatSync(top);
    chownSync(dir, st.uid, st.gid);
    chmodSync(dir, st.mode & 0o7777);
    utimesSync(dir, st.atime, st.mtime);
  }

  private async unmountCurrent(): Promise<void> {
    if (!this.mounted) return;
    await unmount(this.root);
    this.mounted = false;
  }

  private check(): void {
    if (this.closed) throw new SnapshotError('IO', 'workspace is closed', { path: this.dir });
    if (this.lost !== undefined) throw new SnapshotError('IO', `workspace is unusable: ${this.lost}; close it`, { path: this.dir });
  }

  async beginStep(): Promise<void> {
    this.check();
    if (!this.mounted) await this.mountFresh();
  }

  async commitStep(opts: CommitOptions): Promise<CommitResult | null> {
    this.check();
    // The upperdir is read while the overlay is still mounted: nothing writes to it during the
    // commit (the step's processes are gone), and reading changes nothing.
    const ignoredDisplay = anyIgnored(engineIgnored, opts.ignore);
    const ignored = (p: RelPath): boolean => ignoredDisplay(displayPath(p));
    const lower = new LowerView([...this.stack].reverse());
    const changes = overlayChanges(this.upper, lower, ignored);
    const log = opts.log ?? this.log;
    const plan = planLayer(this.upper, changes, {
      ignore: opts.ignore,
      ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
      ...(log ? { log } : {}),
    });
    // The plan is made: from here on the retired upper is only read (by layerTar: each entry's
    // lstat, link target, xattrs and contents).
    // So the swap to a fresh upper (umount+mount, most of a small commit) runs while the layer is
    // stored: a read-only lowerdir may be read from outside the mount, and after the umount
    // nothing writes to the old upper any more. Both are awaited before returning.
    const storing = plan.count > 0
      ? storeLayer(layerTar(plan, opts.signal ? { signal: opts.signal } : {}), opts.store, {
        compression: opts.compression, mediaType: opts.mediaType, ...(opts.signal ? { signal: opts.signal } : {}),
      })
      : Promise.resolve(null);
    const [stored, swapped] = await Promise.allSettled([storing, this.nextUpper({ keepUpper: plan.count > 0 })]);
    if (stored.status === 'rejected') {
      // A failed swap left the stack and the mount as they were: the workspace is as before. A
      // swap that went through made this step's changes part of the lower stack with no layer
      // for them: later steps would silently lose them, so the workspace refuses further use.
      if (swapped.status === 'fulfilled') this.lost = `the layer of a step could not be stored (${(stored.reason as Error)?.message ?? String(stored.reason)})`;
      throw stored.reason;
    }
    if (swapped.status === 'rejected') throw swapped.reason;
    return stored.value === null ? null : { layer: stored.value, entries: plan.count };
  }

  /**
   * A cached layer on top. Its layer dir is stacked as it is: layers we wrote always list their
   * parents, so the cache never needs a fixup dir for them (a foreign layer without parent
   * entries would show those parents as the cache extracted them, 0755 root).
   */
  async applyLayer(layer: Layer): Promise<void> {
    this.check();
    await this.nextUpper({ cached: await this.cache.layerDir(layer) });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.unmountCurrent();
    await removeWorkDir(this.dir);
  }
}
