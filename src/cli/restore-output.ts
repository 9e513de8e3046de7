import type { PullProgress } from '../../oci/index.js';
import type { BaseCacheEntry, RestoreResult } from '../restorer/index.js';
import { pullProgress } from './build-progress.js';
import { formatBytes, plural } from './format.js';
import type { Progress, Task } from './progress.js';
import type { ReportBuilder } from './report.js';

// What `restore` shows and reports: a task per image pulled (bytes, rate, layers), the summary
// lines at the end, and the images in the -json report.

/** RestoreOptions.onProgress as one progress task per image (a complete cache entry pulls nothing, so shows nothing). */
export function pullTasks(progress: Progress): (image: string, p: PullProgress) => void {
  const tasks = new Map<string, { task: Task; update: (p: PullProgress) => void }>();
  return (image, p) => {
    let t = tasks.get(image);
    if (!t) {
      const task = progress.task(image, { tag: 'pull', total: p.bytesTotal, absorbLogs: true });
      t = { task, update: pullProgress(task) };
      tasks.set(image, t);
    }
    t.update(p);
    if (p.event === 'done') t.task.done(`${plural(p.layersTotal, 'layer')}, ${formatBytes(p.bytesTotal)}`);
  };
}

function entries(r: RestoreResult): Array<[string, BaseCacheEntry]> {
  return [
    ...(r.buildImage ? [['build', r.buildImage] as [string, BaseCacheEntry]] : []),
    ...(r.runImage ? [['run', r.runImage] as [string, BaseCacheEntry]] : []),
  ];
}

export function recordRestore(report: ReportBuilder, r: RestoreResult): void {
  for (const [role, e] of entries(r)) {
    report.images.push({
      role,
      reference: e.reference,
      digest: e.digest,
      dir: e.dir,
      reused: e.reused,
      layers: e.image.layers.length,
      bytes: e.image.layers.reduce((n, l) => n + l.descriptor.size, 0),
    });
  }
}

/** One line per image saved for extension, or a line saying there was none. */
export function restoreSummary(r: RestoreResult): string[] {
  const lines = entries(r).map(([role, e]) => {
    const bytes = e.image.layers.reduce((n, l) => n + l.descriptor.size, 0);
    return `Restored ${role} image ${e.reference} in ${e.dir} (${plural(e.image.layers.length, 'layer')}, ${formatBytes(bytes)}${e.reused ? ', already cached' : ''})`;
  });
  return lines.length > 0 ? lines : ['No base image to save for extension (no -build-image, run-image.extend not set)'];
}
