// The scan snapshotter, for hosts where mounts are not allowed: one writable merged copy of the
// image (copied, with reflinks where the filesystem has them, from the layer cache's read-only
// merged rootfs: the cache is never written), an lstat baseline at beginStep and a walk at
// commitStep (scan-diff.ts). Produces the same entries as the overlay snapshotter for the same
// step, except that an entry an earlier step changed may be written again when only its ctime
// moved (see scan-diff.ts).
import { execFile } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { storeLayer, type Image, type Layer } from '../oci/index.js';
import { applyLayerTar } from './apply.js';
import { binaryExtract } from './apply-tar.js';
import { removeTreeSync } from './remove-tree.js';
import { SnapshotError } from './errors.js';
import { anyIgnored, engineIgnored } from './ignore.js';
import { layerTar, planLayer } from './layer-writer.js';
import { scanChanges, takeBaseline, type Baseline, type Pristine } from './scan-diff.js';
import type { CommitOptions, CommitResult, LayerDirs, Snapshotter, Workspace } from './snapshotter.js';
import type { Logger } from './snapshotter-log.js';
import { ancestorsOf, baseOf, displayPath, parentOf, RootPath, type RelPath } from './walk-path.js';

const run = promisify(execFile);

export class ScanSnapshotter implements Snapshotter {
  readonly name = 'scan' as const;
  constructor(
    private readonly cache: LayerDirs,
    private readonly log?: Logger,
  ) {}

  async open(image: Image, opts: { workDir: string; signal?: AbortSignal }): Promise<Workspace> {
    const merged = await this.cache.mergedRootfs(image);
    opts.signal?.throwIfAborted();
    removeTreeSync(opts.workDir);
    const root = join(opts.workDir, 'root');
    // Root-only: the copy holds the image's setuid files and device nodes, and RUN adds more.
    await mkdir(opts.workDir, { recursive: true, mode: 0o700 });
    await chmod(opts.workDir, 0o700);
    try {
      // -a keeps owners, modes, times, hardlinks, xattrs and special files; never hardlinks into
      // the cache (a write through a shared inode would change the cache).
      await run('cp', ['-a', '--reflink=auto', '--no-target-directory', merged, root], { maxBuffer: 16 * 1024 * 1024 });
    } catch (e) {
      throw new SnapshotError('IO', `copy ${merged} to ${root}: ${String((e as { stderr?: unknown }).stderr ?? (e as Error).message).trim()}`, { path: root }, { cause: e });
    }
    return new ScanWorkspace(opts.workDir, root, merged, this.log);
  }
}

class ScanWorkspace implements Workspace {
  private baseline: Baseline | null = null;
  /** Paths (and subtrees) changed since the copy: the pristine base says nothing about them. */
  private readonly dirty = new Set<RelPath>();
  private pristineValid = true;
  private closed = false;
  private readonly pristine: Pristine;

  constructor(
    private readonly dir: string,
    readonly root: string,
    pristineRoot: string,
    private readonly log?: Logger,
  ) {
    const prp = new RootPath(pristineRoot);
    this.pristine = { root: prp, usable: (p) => this.pristineValid && !this.isDirty(p) };
  }

  private isDirty(p: RelPath): boolean {
    if (this.dirty.size === 0) return false;
    if (this.dirty.has(p)) return true;
    return ancestorsOf(p).some((a) => this.dirty.has(a));
  }

  private check(): void {
    if (this.closed) throw new SnapshotError('IO', 'workspace is closed', { path: this.dir });
  }

  async beginStep(): Promise<void> {
    this.check();
    this.baseline = takeBaseline(this.root);
  }

  async commitStep(opts: CommitOptions): Promise<CommitResult | null> {
    this.check();
    const base = this.baseline;
    if (base === null) throw new SnapshotError('IO', 'commitStep without beginStep', { path: this.root });
    this.baseline = null;
    const ignoredDisplay = anyIgnored(engineIgnored, opts.ignore);
    const changes = scanChanges(base, (p) => ignoredDisplay(displayPath(p)), this.pristine);
    for (const c of changes) this.dirty.add(c.path);
    const log = opts.log ?? this.log;
    const plan = planLayer(this.root, changes, {
      ignore: opts.ignore,
      ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
      ...(log ? { log } : {}),
    });
    if (plan.count === 0) return null;
    const layer = await storeLayer(layerTar(plan, opts.signal ? { signal: opts.signal } : {}), opts.store, {
      compression: opts.compression, mediaType: opts.mediaType, ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { layer, entries: plan.count };
  }

  async applyLayer(layer: Layer): Promise<void> {
    this.check();
    const name = layer.diffID;
    await applyLayerTar(await layer.openUncompressed(), this.root, { format: 'merged', layerName: name, ...(this.log ? { log: this.log } : {}) });
    // The pristine copy no longer describes what this layer wrote.
    await pipeline(await layer.openUncompressed(), this.markWritten());
  }

  /** A tar sink that marks every path the tar writes or deletes as dirty. */
  private markWritten(): Writable {
    const ex = binaryExtract();
    ex.on('entry', (header, stream, next) => {
      // binaryExtract gives names (PAX path applied) as byte strings, like our RelPath.
      const p = header.name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
      const base = baseOf(p);
      if (base === '.wh..wh..opq') this.dirty.add(parentOf(p));
      else if (base.startsWith('.wh.')) this.dirty.add(`${parentOf(p) === '' ? '' : `${parentOf(p)}/`}${base.slice(4)}`);
      else if (p !== '' && p !== '.') this.dirty.add(p);
      if (p === '' || p === '.') this.pristineValid = false;
      stream.on('end', next);
      stream.resume();
    });
    return ex as unknown as Writable;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Not fs.promises.rm: its memory grows with the entry count (remove-tree.ts).
    removeTreeSync(this.dir);
  }
}
