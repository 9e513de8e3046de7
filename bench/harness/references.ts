// The machine's yardsticks, measured in the same iterations as the engines: GNU tar and
// pigz+tar extracting the base's layers into an empty directory (the physical floor of a cold
// start), our own layer-cache extraction alone, and pigz -6 compressing the 200 MB step's bytes.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { resetDir, runTimed, tail, type Timed } from './proc.js';
import type { BaseName, ReferenceId, Sample } from './types.js';
import type { RunContext } from './engines.js';

export const REFERENCES: Record<ReferenceId, string> = {
  'tar-xzf': 'tar -xzf of the layers',
  'pigz-tar': 'pigz -dc | tar -x of the layers',
  'cnbx-materialize': 'cnbx layer-cache extraction (cold)',
  'pigz-6': 'pigz -6 on all cores, 200 MiB',
};

/** The layer blob paths of a layout's `latest` image, base first. */
export function layerBlobs(layout: string): string[] {
  const blob = (d: string) => join(layout, 'blobs', ...d.split(':'));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest') ?? index.manifests[0];
  if (!desc) throw new Error(`${layout}: empty index`);
  const manifest = JSON.parse(readFileSync(blob(desc.digest), 'utf8')) as { layers: Array<{ digest: string }> };
  return manifest.layers.map((l) => blob(l.digest));
}

export function baseFacts(layout: string): { layers: number; compressedBytes: number } {
  const blobs = layerBlobs(layout);
  return { layers: blobs.length, compressedBytes: blobs.reduce((n, b) => n + statSync(b).size, 0) };
}

type Measured = Omit<Sample, 'base' | 'scenario' | 'subject' | 'kind' | 'iteration' | 'seq' | 'startedAt'>;

function measured(t: Timed, extra?: Record<string, number>): Measured {
  return { wallS: t.wallS, userS: t.userS, sysS: t.sysS, maxRssMiB: t.maxRssMiB, loadavg1: t.loadavg1, ok: true, ...(extra ? { extra } : {}) };
}

export async function runReference(id: ReferenceId, base: BaseName, ctx: RunContext): Promise<Measured> {
  const dir = join(ctx.opts.workDir, 'refs', id);
  const layout = ctx.layout(base);
  const run = async (argv: string[], env?: NodeJS.ProcessEnv) => {
    const t = await runTimed(argv, { logFile: ctx.logFile, tmpDir: ctx.tmpDir, ...(env ? { env } : {}) });
    if (t.exitCode !== 0) throw new Error(`${id} on ${base} exited ${t.exitCode}\n${tail(ctx.logFile)}`);
    return t;
  };
  resetDir(dir);
  mkdirSync(dir, { recursive: true });
  try {
    switch (id) {
      case 'tar-xzf': {
        const root = join(dir, 'rootfs');
        mkdirSync(root);
        return measured(await run(['sh', '-ec', 'r=$1; shift; for l; do tar -xzf "$l" -C "$r"; done', 'sh', root, ...layerBlobs(layout)]));
      }
      case 'pigz-tar': {
        const root = join(dir, 'rootfs');
        mkdirSync(root);
        return measured(await run(['sh', '-ec', 'r=$1; shift; for l; do pigz -dc "$l" | tar -x -C "$r"; done', 'sh', root, ...layerBlobs(layout)]));
      }
      case 'cnbx-materialize':
        return measured(
          await run([process.execPath, join(ctx.repoDir, 'bench', 'harness', 'materialize-probe.mjs'), layout, join(dir, 'cache')], {
            ...process.env,
            CNBX_BENCH_DIST: ctx.opts.dist,
          }),
        );
      case 'pigz-6': {
        const input = randomFile(ctx.opts.workDir, 200 << 20);
        // Read once so that both this and the RUN step start from bytes in memory.
        await run(['sh', '-ec', 'cat "$1" >/dev/null', 'sh', input]);
        return measured(await run(['sh', '-ec', 'pigz -6 -c "$1" >/dev/null', 'sh', input]), { bytes: 200 << 20 });
      }
    }
  } finally {
    resetDir(dir, { sync: false });
  }
}

/** A file of `size` random bytes under <work>/data, made once. */
function randomFile(workDir: string, size: number): string {
  const dir = join(workDir, 'data');
  const file = join(dir, `random-${size}.bin`);
  if (existsSync(file) && statSync(file).size === size) return file;
  mkdirSync(dir, { recursive: true });
  const fd = openSync(file, 'w');
  for (let left = size; left > 0; left -= 1 << 20) {
    const b = randomBytes(Math.min(left, 1 << 20));
    writeSync(fd, b);
  }
  closeSync(fd);
  return file;
}
