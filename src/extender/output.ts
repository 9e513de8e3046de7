import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout, syncDir, type Image } from '../../oci/index.js';
import type { Logger } from '../log.js';
import type { ExtendKind } from './dockerfiles.js';

// `<extended>/<kind>/sha256:<manifest-hex>/` (contract.md §5.1–§5.2): an OCI layout with
// `oci-layout`, a one-manifest `index.json`, the manifest, the config, and only the blobs of the
// layers the extension added (base blobs are absent: a sparse layout, as the exporter expects).

/**
 * Which layers of the extended image are new, by the lifecycle's rule (phase/extender.go
 * saveSparse): everything after the base's top layer, found at its own index (N-1); a copy of the
 * top digest earlier in the list is a duplicated base layer, skipped with a warning (LC#1300).
 */
export function newLayerIndexes(extended: Image, base: { layerCount: number; topDigest: string | undefined }, log?: Logger): Set<number> {
  const out = new Set<number>();
  let copying = base.topDigest === undefined; // a base without layers: every layer is new
  extended.layers.forEach((l, idx) => {
    const d = l.descriptor.digest;
    if (copying) {
      out.add(idx);
    } else if (d === base.topDigest && idx + 1 === base.layerCount) {
      copying = true;
    } else if (d === base.topDigest) {
      log?.warn(`Original run image has duplicated top layer with digest: ${d}`);
    }
  });
  return out;
}

export interface WrittenImage {
  /** `<extended>/<kind>/sha256:<hex>` */
  dir: string;
  digest: string;
  newLayers: number;
}

/**
 * Writes the extended image so that `<extended>/<kind>` holds exactly one entry, the new image.
 * The whole `<kind>` directory is built beside it under a temp name, then swapped in with two
 * renames (old aside, new in) and the old one removed. A crash between the renames leaves the old
 * directory under `.<kind>-old-*`; the next run puts it back before doing anything else.
 */
export async function writeExtendedImage(
  extendedDir: string,
  kind: ExtendKind,
  image: Image,
  base: { layerCount: number; topDigest: string | undefined },
  log?: Logger,
): Promise<WrittenImage> {
  await mkdir(extendedDir, { recursive: true });
  await recover(extendedDir, kind);
  const copy = newLayerIndexes(image, base, log);
  const suffix = randomBytes(6).toString('hex');
  const staging = join(extendedDir, `.${kind}-new-${suffix}`);
  const target = join(extendedDir, kind);
  const name = image.digest; // `sha256:<hex>`, the name the lifecycle gives it
  try {
    await mkdir(staging);
    const layout = await OciLayout.create(join(staging, name));
    await layout.writeImage(image, { layers: (_l, i) => copy.has(i), replaceIndex: true });
    await syncDir(join(staging, name));
    await syncDir(staging);
    const old = join(extendedDir, `.${kind}-old-${suffix}`);
    const hadOld = await rename(target, old).then(
      () => true,
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        throw e;
      },
    );
    await rename(staging, target);
    await syncDir(extendedDir);
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  log?.debug(`Wrote extended ${kind} image ${name} with ${copy.size} new layer blobs to ${join(target, name)}`);
  return { dir: join(target, name), digest: name, newLayers: copy.size };
}

/** Puts back a `<kind>` directory left aside by a crashed swap, and removes stale temp dirs. */
async function recover(extendedDir: string, kind: ExtendKind): Promise<void> {
  const names = await readdir(extendedDir);
  const olds = names.filter((n) => n.startsWith(`.${kind}-old-`));
  const news = names.filter((n) => n.startsWith(`.${kind}-new-`));
  if (!names.includes(kind) && olds.length > 0) {
    // Newest first: the one most recently set aside is the state before the crash.
    const withTimes = await Promise.all(olds.map(async (n) => ({ n, t: (await stat(join(extendedDir, n))).mtimeMs })));
    withTimes.sort((a, b) => b.t - a.t);
    await rename(join(extendedDir, withTimes[0]!.n), join(extendedDir, kind));
    olds.splice(olds.indexOf(withTimes[0]!.n), 1);
  }
  for (const n of [...olds, ...news]) await rm(join(extendedDir, n), { recursive: true, force: true });
}
