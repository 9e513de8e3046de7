import { DOCKER_HUB, DOCKER_HUB_HOST, Reference } from '../../oci/index.js';
import type { RunImageForExport, RunToml } from '../cnb/index.js';
import { RestoreError } from './errors.js';

// Run-image selection (lifecycle platform/run_image.go; contract.md §6.4).
//
// The access check is passed in: `Registry.checkReadAccess` in production, a counting fake in
// tests. Unlike imgutil's CheckReadAccess, ours says false on a 404: a missing image is not
// "readable". imgutil's 404-is-readable rule is what let the lifecycle re-select an unusable
// primary (lifecycle #1590).

/** Whether `image` can be read with the run's credentials. */
export type ReadAccessChecker = (image: string) => Promise<boolean>;

/**
 * The name two references are compared by (lifecycle internal/name ParseMaybe): the digest is
 * dropped, Docker's defaults are filled in (`docker.io`, `library/`, `latest`). A string that does
 * not parse is compared as written.
 */
export function comparableImageName(image: string): string {
  const at = image.includes('@sha256:') ? image.slice(0, image.indexOf('@')) : image;
  try {
    return Reference.parse(at).toString();
  } catch {
    return image;
  }
}

/** The run.toml entry listing `image` as its image or one of its mirrors (ignoring digests). */
export function findRunImage(run: RunToml, image: string): RunImageForExport | undefined {
  const want = comparableImageName(image);
  return run.images.find((e) => comparableImageName(e.image) === want || e.mirrors.some((m) => comparableImageName(m) === want));
}

export function runTomlContains(run: RunToml, image: string): boolean {
  return findRunImage(run, image) !== undefined;
}

/** The checker's answer; a checker that throws says "not readable" (the lifecycle ignores the error), unless aborted. */
async function readable(check: ReadAccessChecker, image: string, signal?: AbortSignal): Promise<boolean> {
  signal?.throwIfAborted();
  try {
    return await check(image);
  } catch (e) {
    signal?.throwIfAborted();
    if ((e as Error)?.name === 'AbortError') throw e;
    return false;
  }
}

/**
 * The restorer's check, Platform ≥ 0.14 (lifecycle ResolveRunImageFromAnalyzed, after the #1590
 * fix). `name` is analyzed.toml's `run-image.image`, which the analyzer (or an extension) chose:
 * - not in run.toml (an extension switched the image) → `name`, no check;
 * - listed as an image or a mirror → only `name` is checked, once; readable → `name`, else
 *   `selected run image '<name>' is not accessible`. The primary and the other mirrors are never
 *   checked, and never selected in its place.
 */
export async function resolveRunImageFromAnalyzed(name: string, run: RunToml, check: ReadAccessChecker, opts: { signal?: AbortSignal } = {}): Promise<string> {
  if (!runTomlContains(run, name)) return name;
  if (await readable(check, name, opts.signal)) return name;
  throw new RestoreError('RUN_IMAGE_NOT_ACCESSIBLE', `selected run image '${name}' is not accessible`, { image: name });
}

/** Docker Hub's spellings (ggcr says `index.docker.io`, references here say `docker.io`). */
function sameRegistry(a: string, b: string): boolean {
  const norm = (r: string) => {
    const l = r.toLowerCase();
    return l === 'index.docker.io' || l === DOCKER_HUB_HOST ? DOCKER_HUB : l;
  };
  return norm(a) === norm(b);
}

/**
 * The analyzer's choice of run image (lifecycle BestRunImageMirrorFor): among `[image, …mirrors]`,
 * the first readable one on `targetRegistry` (the output image's registry; candidates that do not
 * parse are skipped), else the first readable one in order. Errors: `missing run image metadata
 * (-run-image)` when `image` is empty, `failed to find accessible run image` when none is readable.
 * Each candidate is checked at most once (the lifecycle may check one twice; the answer is the same).
 */
export async function bestRunImageMirrorFor(
  targetRegistry: string,
  md: { image: string; mirrors?: readonly string[] },
  check: ReadAccessChecker,
  opts: { signal?: AbortSignal } = {},
): Promise<string> {
  if (md.image === '') throw new RestoreError('RUN_IMAGE_MISSING', 'missing run image metadata (-run-image)');
  const candidates = [md.image, ...(md.mirrors ?? [])];
  const answers = new Map<string, Promise<boolean>>();
  const ok = (image: string) => {
    let a = answers.get(image);
    if (a === undefined) {
      a = readable(check, image, opts.signal);
      answers.set(image, a);
    }
    return a;
  };
  for (const image of candidates) {
    let registry: string;
    try {
      registry = Reference.parse(image).registry;
    } catch {
      continue;
    }
    if (sameRegistry(registry, targetRegistry) && (await ok(image))) return image;
  }
  for (const image of candidates) {
    if (await ok(image)) return image;
  }
  throw new RestoreError('NO_ACCESSIBLE_RUN_IMAGE', 'failed to find accessible run image');
}
