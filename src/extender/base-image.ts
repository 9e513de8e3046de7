import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, OciLayout, Reference, type Digest, type Image } from '../../oci/index.js';
import type { Logger } from '../log.js';
import { ExtenderError } from './errors.js';
import type { ExtendKind } from './dockerfiles.js';

// The image to extend (contract.md §1.5 step 4, §4.2): `<analyzed>`'s reference must be a digest
// reference; the image is the manifest with that digest in the OCI layout
// `<kaniko-dir>/cache/base/sha256:<hex>`, written by the restorer.

/**
 * The manifest digest of an analyzed.toml reference. A registry reference `name[:tag]@sha256:…`
 * (what the restorer records) or a layout identifier `<path>@sha256:…` (what the analyzer records
 * in layout mode; the lifecycle cannot parse those, LC#1102). Anything else is IMAGE_REF.
 */
export function digestOfReference(ref: string, kind: ExtendKind, analyzedPath = 'analyzed.toml'): { digest: Digest; layoutPath?: string } {
  const fail = (why: string, cause?: unknown): never => {
    throw new ExtenderError('IMAGE_REF', `getting ${kind} image to extend: failed to get digest for reference '${ref}': ${why}`, { kind }, cause ? { cause } : undefined);
  };
  if (ref === '') fail(`${analyzedPath} has no ${kind === 'build' ? 'build-image' : 'run-image'}.reference`);
  const at = ref.lastIndexOf('@');
  if (at < 0) fail('not a digest reference (expected <name>@sha256:<64 hex digits>)');
  const d = ref.slice(at + 1);
  if (!isDigest(d)) fail(`${JSON.stringify(d)} is not a sha256 digest`);
  const name = ref.slice(0, at);
  if (name.startsWith('/')) return { digest: d as Digest, layoutPath: name };
  try {
    Reference.parse(ref, { defaultTag: false });
  } catch (e) {
    fail((e as Error).message, e);
  }
  return { digest: d as Digest };
}

export interface BaseImage {
  image: Image;
  /** The layout it was read from. */
  dir: string;
}

/**
 * Opens the base image. We materialise its filesystem (we do not run inside it, as kaniko does),
 * so every layer blob must be present: a sparse layout (manifest and config only, what the spec
 * and lifecycles before 0.21.1 write) is SPARSE_BASE, naming the missing blobs and the fix.
 */
export async function openBaseImage(kanikoDir: string, ref: string, kind: ExtendKind, log?: Logger, analyzedPath?: string): Promise<BaseImage> {
  const { digest, layoutPath } = digestOfReference(ref, kind, analyzedPath);
  let dir = join(kanikoDir, 'cache', 'base', digest);
  if (layoutPath !== undefined && !(await exists(dir)) && (await exists(join(layoutPath, 'index.json')))) {
    // A layout identifier whose image the restorer did not copy: read that layout directly.
    dir = layoutPath;
  }
  let image: Image;
  let layout: OciLayout;
  try {
    layout = await OciLayout.open(dir);
    image = await layout.image({ digest });
  } catch (e) {
    throw new ExtenderError('BASE_IMAGE', `getting ${kind} image to extend: getting base image for digest '${digest}' from ${dir}`, { kind, path: dir }, { cause: e });
  }
  const missing: string[] = [];
  for (const l of image.layers) {
    if (!(await layout.blobs.has(l.descriptor.digest))) missing.push(l.descriptor.digest);
  }
  if (missing.length > 0) {
    throw new ExtenderError(
      'SPARSE_BASE',
      `getting ${kind} image to extend: the base image layout ${dir} is missing the blobs of ${missing.length} of its ${image.layers.length} layers ` +
        `(first: ${missing[0]}): it is a sparse layout (manifest and config only). This extender builds the image's filesystem from its layers, ` +
        `so the restorer must write the full image to ${join(kanikoDir, 'cache', 'base')} (lifecycle 0.21.1 and later do)`,
      { kind, path: dir },
    );
  }
  log?.debug(`Found ${image.layers.length} layers in original image with digest: ${image.digest}`);
  return { image, dir };
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
}
