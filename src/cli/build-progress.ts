import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore, Image, Layer, PullProgress } from '../../oci/index.js';
import type { LayerCache, SnapshotterName } from '../../snapshot/index.js';
import type { BuildStepReport, BuildStepStart } from '../build/index.js';
import { formatBytes, plural } from './format.js';
import type { Progress, Task } from './progress.js';

// Adapters from the libraries' hooks to progress tasks: the build engine's step hooks (a task per
// instruction, its RUN output, the bytes of the layer being compressed), base-layer extraction
// (bytes read through the layers), a registry pull's PullProgress, and bytes landing in a directory.

/** The line a finished step collapses to: `cached, layer 1.2 MB`, `layer 218 B`, `no changes`, or '' for metadata steps. */
export function stepSummary(r: Pick<BuildStepReport, 'cache' | 'layer'>): string {
  if (r.cache === 'none') return '';
  const layer = r.layer ? `layer ${formatBytes(r.layer.size)}` : 'no changes';
  return r.cache === 'hit' ? `cached, ${layer}` : layer;
}

/** A BlobStore that remembers the temp files handed out, so the bytes written so far can be read from them. */
export function trackTemps(store: BlobStore): { store: BlobStore; bytesInFlight(): Promise<number> } {
  const temps = new Set<string>();
  const tracked: BlobStore = {
    get root() {
      return store.root;
    },
    path: (d) => store.path(d),
    has: (d) => store.has(d),
    stat: (d) => store.stat(d),
    open: (d, size) => store.open(d, size),
    read: (d, o) => store.read(d, o),
    put: (src, expected) => store.put(src, expected),
    putFile: async (tmp, d) => {
      temps.delete(tmp);
      await store.putFile(tmp, d);
    },
    tempPath: () => {
      const p = store.tempPath();
      temps.add(p);
      return p;
    },
  };
  return {
    store: tracked,
    async bytesInFlight() {
      let n = 0;
      for (const p of temps) {
        const s = await stat(p).catch(() => null);
        if (s) n += s.size;
        else temps.delete(p);
      }
      return n;
    },
  };
}

/** Calls `f` every `ms` and shows its result as the task's progress, until stopped. */
export function poll(task: Task, f: () => Promise<number>, ms = 200): () => void {
  let busy = false;
  const t = setInterval(() => {
    if (busy) return;
    busy = true;
    f()
      .then((n) => task.set(n))
      .catch(() => {})
      .finally(() => (busy = false));
  }, ms);
  t.unref();
  return () => clearInterval(t);
}

/**
 * The build engine's hooks as progress: one task per instruction (`[<prefix>i/n] RUN …`), RUN
 * output as the task's output, the compressed bytes of the layer being written while it snapshots.
 * `collapse`: finished steps leave no line of their own (the caller logs one).
 */
export class BuildProgress {
  private current: Task | undefined;
  private stopPoll: (() => void) | undefined;

  constructor(
    private readonly progress: Progress,
    private readonly o: { tagPrefix?: string; bytesInFlight?: () => Promise<number>; collapse?: boolean; onStep?: (r: BuildStepReport) => void } = {},
  ) {}

  /** Where the bytes of the layer being written can be read (a trackTemps store). */
  watchBytes(bytesInFlight: () => Promise<number>): void {
    this.o.bytesInFlight = bytesInFlight;
  }

  readonly onStepStart = (s: BuildStepStart): void => {
    this.finishPoll();
    this.current = this.progress.task(s.instruction, { tag: `${this.o.tagPrefix ?? ''}${s.index}/${s.count}` });
  };

  readonly onOutput = (line: string): void => {
    if (this.current) this.current.output(line);
    else this.progress.output(line);
  };

  readonly onStepCommit = (): void => {
    const task = this.current;
    if (!task) return;
    task.status('snapshot');
    const f = this.o.bytesInFlight;
    if (f) this.stopPoll = poll(task, f);
  };

  readonly onStep = (r: BuildStepReport): void => {
    this.finishPoll();
    this.current?.done(this.o.collapse ? null : stepSummary(r));
    this.current = undefined;
    this.o.onStep?.(r);
  };

  /** The build failed: the running step (if any) is marked failed. */
  fail(): void {
    this.finishPoll();
    this.current?.fail();
    this.current = undefined;
  }

  private finishPoll(): void {
    this.stopPoll?.();
    this.stopPoll = undefined;
  }
}

/** The same layer, counting the stored (compressed) bytes read through open(). */
function countingLayer(l: Layer, onBytes: (n: number) => void, onOpen: () => void): Layer {
  return {
    descriptor: l.descriptor,
    diffID: l.diffID,
    compression: l.compression,
    open: async () => {
      onOpen();
      const src = await l.open();
      async function* count(): AsyncGenerator<Buffer> {
        for await (const c of src as AsyncIterable<Buffer>) {
          onBytes(c.length);
          yield c;
        }
      }
      return Readable.from(count(), { objectMode: false });
    },
    openUncompressed: () => {
      onOpen();
      return l.openUncompressed();
    },
  };
}

/**
 * Extracts the image's layers into the layer cache ahead of the build, as a task with the
 * compressed bytes read so far: what the snapshotter then opens is already there. overlay needs
 * each layer's dir, scan the merged root filesystem. Nothing is extracted twice; a warm cache costs
 * a few stats (and the task says `cached`).
 */
export async function extractBase(
  cache: LayerCache,
  snapshotter: SnapshotterName,
  image: Image,
  progress: Progress,
  opts: { signal?: AbortSignal; tag?: string; quietWhenCached?: boolean } = {},
): Promise<void> {
  const compressed = image.layers.reduce((n, l) => n + l.descriptor.size, 0);
  const task = progress.task(`${plural(image.layers.length, 'base layer')} (${formatBytes(compressed)})`, { tag: opts.tag ?? 'extract', total: compressed });
  let bytes = 0;
  let opened = 0;
  const counted: Image = {
    ...image,
    layers: image.layers.map((l) => countingLayer(l, (n) => task.set((bytes += n)), () => void opened++)),
  };
  const signal = opts.signal ? { signal: opts.signal } : {};
  try {
    if (snapshotter === 'overlay') await cache.layerDirs(counted, signal);
    else await cache.mergedRootfs(counted, signal);
  } catch (e) {
    task.fail();
    throw e;
  }
  if (opened === 0) task.done(opts.quietWhenCached ? null : 'cached');
  else task.done(`${plural(opened, 'layer')} extracted (${formatBytes(bytes)})`);
}

/** A registry pull's progress on a task: bytes of the layers, layer count as status. */
export function pullProgress(task: Task): (p: PullProgress) => void {
  return (p) => {
    task.set(p.bytesDone, p.bytesTotal);
    if (p.layersTotal > 0) task.status(`${p.layersDone}/${p.layersTotal} layers`);
  };
}

/** Bytes of the blob files under `<dir>/blobs/sha256` and of a `<dir>.tmp-*` being built beside it. */
async function layoutBytes(dir: string): Promise<number> {
  const abs = resolve(dir);
  const parent = dirname(abs);
  const name = basename(abs);
  const dirs = [abs];
  for (const e of await readdir(parent).catch(() => [] as string[])) if (e.startsWith(`${name}.tmp-`)) dirs.push(join(parent, e));
  let n = 0;
  for (const d of dirs) {
    const blobs = join(d, 'blobs', 'sha256');
    for (const f of await readdir(blobs).catch(() => [] as string[])) n += (await stat(join(blobs, f)).catch(() => null))?.size ?? 0;
  }
  return n;
}

/** A task for writing an image to a layout: the bytes that arrive there, which blobs, how many bytes. */
export function writeTask(progress: Progress, dir: string, image: Image, layers: 'all' | ((l: Layer, i: number) => boolean)): Task {
  const written = image.layers.filter((l, i) => layers === 'all' || layers(l, i));
  const bytes = written.reduce((n, l) => n + l.descriptor.size, 0);
  const task = progress.task(dir, { tag: 'write', total: bytes });
  let stop: (() => void) | undefined;
  let finished = false;
  void layoutBytes(dir).then((before) => {
    if (!finished) stop = poll(task, async () => Math.max(0, (await layoutBytes(dir)) - before), 250);
  });
  const end = () => {
    finished = true;
    stop?.();
  };
  return {
    ...task,
    done: (summary) => {
      end();
      task.done(summary ?? `${plural(written.length, 'layer blob')} (${formatBytes(bytes)}), config, manifest`);
    },
    fail: (summary) => {
      end();
      task.fail(summary);
    },
  };
}
