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
import { mountOverlay, removeWorkDir, unmount, unmountStale } from './overlay-mount.js';
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
      await rm(join(this.dir, name), { force: true });
      await symlink(real, join(this.dir, name));
      names.push(name);
    }
    if (names.length === 0) {
      // FROM scratch: overlayfs needs at least one lowerdir.
      await mkdir(join(this.dir, 'l', 'empty'), { recursive: true });
      names.push('l/empty');
    }
    return names;
  }

  private async mountFresh(): Promise<void> {
    const k = this.mountCount++;
    this.upper = join(this.dir, 'u', String(k));
    this.work = join(this.dir, 'w', String(k));
    await mkdir(this.upper);
    await mkdir(this.work);
    await this.rootLikeLower(this.upper);
    await mountOverlay({ cwd: this.dir, lowers: await this.lowerNames(), upper: `u/${k}`, work: `w/${k}`, target: 'merged' });
    this.mounted = true;
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

  /** After unmounting: keep the current upperdir as a lowerdir when it holds anything. */
  private async retireUpper(): Promise<void> {
    await rm(this.work, { recursive: true, force: true });
    if ((await readdir(this.upper)).length > 0) this.stack.push(this.upper);
    else await rm(this.upper, { recursive: true, force: true });
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
    await this.unmountCurrent();
    let result: CommitResult | null = null;
    try {
      const ignoredDisplay = anyIgnored(engineIgnored, opts.ignore);
      const ignored = (p: RelPath): boolean => ignoredDisplay(displayPath(p));
      const lower = new LowerView([...this.stack].reverse());
      const changes = overlayChanges(this.upper, lower, ignored);
      const plan = planLayer(this.upper, changes, {
        ignore: opts.ignore,
        ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
        ...(opts.log ?? this.log ? { log: (opts.log ?? this.log)! } : {}),
      });
      if (plan.entries.length > 0) {
        const layer = await storeLayer(layerTar(plan, opts.signal ? { signal: opts.signal } : {}), opts.store, {
          compression: opts.compression, mediaType: opts.mediaType, ...(opts.signal ? { signal: opts.signal } : {}),
        });
        result = { layer, entries: plan.entries.length };
      }
    } catch (e) {
      // Leave the workspace as it was before the commit: the same upper, mounted again.
      await mountOverlay({ cwd: this.dir, lowers: await this.lowerNames(), upper: relative(this.dir, this.upper), work: relative(this.dir, this.work), target: 'merged' })
        .then(() => { this.mounted = true; })
        .catch((m: unknown) => this.log?.error(`overlay: remount after a failed commit: ${(m as Error).message}`));
      throw e;
    }
    await this.retireUpper();
    await this.mountFresh();
    return result;
  }

  /**
   * A cached layer on top. Its layer dir is stacked as it is: layers we wrote always list their
   * parents, so the cache never needs a fixup dir for them (a foreign layer without parent
   * entries would show those parents as the cache extracted them, 0755 root).
   */
  async applyLayer(layer: Layer): Promise<void> {
    this.check();
    const dir = await this.cache.layerDir(layer);
    await this.unmountCurrent();
    await this.retireUpper();
    this.stack.push(dir);
    await this.mountFresh();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.unmountCurrent();
    await removeWorkDir(this.dir);
  }
}

function relative(base: string, p: string): string {
  return p.startsWith(`${base}/`) ? p.slice(base.length + 1) : p;
}
