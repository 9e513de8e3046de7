// The overlay snapshotter: the image's cached layer directories (overlay format, read-only) are
// the lowerdirs, each step writes into a fresh upperdir, and the step's layer is computed from
// that upperdir alone (overlay-diff.ts). A committed upperdir becomes a read-only lowerdir of the
// next step. Nothing is copied or walked in proportion to the image.
//
// Work dir layout (all names short and relative to it, so the mount data stays small):
//   l/<n>      symlinks to the lowerdirs (cached layer dirs and earlier uppers), n = stack position
//   u/<k> w/<k> upperdir and workdir of mount k
//   merged     the mount point: Workspace.root
import { chmod, chown, lstat, mkdir, readdir, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { realpathSync } from 'node:fs';
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
        await rm(join(this.dir, name), { force: true });
        await symlink(real, join(this.dir, name));
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
    await mkdir(upper);
    await mkdir(work);
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
  private async nextUpper(cached?: string): Promise<void> {
    const old = { upper: this.upper, work: this.work };
    const keep = (await readdir(old.upper)).length > 0 || !(await this.sameRootAsLower(old.upper));
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
    await rm(old.work, { recursive: true, force: true });
    if (!keep) await rm(old.upper, { recursive: true, force: true });
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
    const st = await lstat(top);
    await chown(dir, st.uid, st.gid);
    await chmod(dir, st.mode & 0o7777);
    await utimes(dir, st.atime, st.mtime);
  }

  private async unmountCurrent(): Promise<void> {
    if (!this.mounted) return;
    await unmount(this.root);
    this.mounted = false;
  }

  private check(): void {
    if (this.closed) throw new SnapshotError('IO', 'workspace is closed', { path: this.dir });
  }

  async beginStep(): Promise<void> {
    this.check();
    if (!this.mounted) await this.mountFresh();
  }

  async commitStep(opts: CommitOptions): Promise<CommitResult | null> {
    this.check();
    // The upperdir is read while the overlay is still mounted: nothing writes to it during the
    // commit (the step's processes are gone), and reading changes nothing. A failed commit leaves
    // the workspace as it was.
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
    let result: CommitResult | null = null;
    if (plan.entries.length > 0) {
      const layer = await storeLayer(layerTar(plan, opts.signal ? { signal: opts.signal } : {}), opts.store, {
        compression: opts.compression, mediaType: opts.mediaType, ...(opts.signal ? { signal: opts.signal } : {}),
      });
      result = { layer, entries: plan.entries.length };
    }
    await this.nextUpper();
    return result;
  }

  /**
   * A cached layer on top. Its layer dir is stacked as it is: layers we wrote always list their
   * parents, so the cache never needs a fixup dir for them (a foreign layer without parent
   * entries would show those parents as the cache extracted them, 0755 root).
   */
  async applyLayer(layer: Layer): Promise<void> {
    this.check();
    await this.nextUpper(await this.cache.layerDir(layer));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.unmountCurrent();
    await removeWorkDir(this.dir);
  }
}
