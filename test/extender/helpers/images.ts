// Base images for extender tests, built in code from tar tables (real gzip layers, real layouts).
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  appendHistory,
  appendLayers,
  DirBlobStore,
  emptyImage,
  OciLayout,
  storeLayer,
  withConfigFile,
  type ContainerConfig,
  type History,
  type Image,
} from '../../../oci/index.js';
import { tarFrom, type TarEntrySpec } from '../../helpers/tar.js';

export const PASSWD = 'root:x:0:0:root:/root:/bin/sh\ncnb:x:1234:1000:CNB user,,,:/home/cnb:/bin/sh\n';

export interface BaseSpec {
  /** One tar table per layer (default: one layer with /etc/passwd and /home/cnb). */
  layers?: TarEntrySpec[][];
  config?: ContainerConfig;
  /** Extra history entries with empty_layer (as a real base has for ENV, CMD…). */
  emptyHistory?: boolean;
  /** Repeat the top layer's digest earlier (LC#1300). */
  duplicateTop?: boolean;
}

export function defaultLayers(): TarEntrySpec[][] {
  return [
    [
      { name: 'etc/', type: 'dir' },
      { name: 'etc/passwd', content: PASSWD },
      { name: 'home/', type: 'dir' },
      { name: 'home/cnb/', type: 'dir', uid: 1234, gid: 1000 },
    ],
    [{ name: 'base-file', content: 'from the base\n' }],
  ];
}

/** Builds an image from tar tables; its blobs live in `scratch`. */
export async function buildImage(scratch: string, spec: BaseSpec = {}): Promise<Image> {
  const store = new DirBlobStore(scratch);
  let img = emptyImage({ os: 'linux', architecture: 'amd64' });
  img = withConfigFile(img, (c) => ({
    ...c,
    created: '2024-01-02T03:04:05Z',
    config: spec.config ?? { Env: ['PATH=/usr/bin:/bin', 'CNB_USER_ID=1234', 'CNB_GROUP_ID=1000'], Labels: { 'org.example': 'base' } },
  }));
  const tables = spec.layers ?? defaultLayers();
  for (const [i, entries] of tables.entries()) {
    const layer = await storeLayer(Readable.from([tarFrom(entries)]), store);
    const h: History = { created: '2024-01-02T03:04:05Z', created_by: `base layer ${i}` };
    img = appendLayers(img, { layer, history: h });
    if (spec.emptyHistory) img = appendHistory(img, { created: '2024-01-02T03:04:05Z', created_by: `ENV X${i}=1`, empty_layer: true });
  }
  if (spec.duplicateTop && img.layers.length > 0) {
    // [top, …, top]: a base whose first layer is byte-identical to its top layer.
    const top = img.layers.at(-1)!;
    let dup = emptyImage({ os: 'linux', architecture: 'amd64' });
    dup = withConfigFile(dup, (c) => ({ ...c, config: img.config.config ?? {} }));
    for (const l of [top, ...img.layers]) dup = appendLayers(dup, { layer: l, history: { created_by: 'layer' } });
    img = dup;
  }
  return img;
}

/** Writes `img` as `<kanikoDir>/cache/base/<digest>` (full, or sparse) and returns its analyzed reference. */
export async function saveBase(kanikoDir: string, img: Image, opts: { sparse?: boolean } = {}): Promise<string> {
  const base = join(kanikoDir, 'cache', 'base');
  await mkdir(base, { recursive: true });
  const staging = join(base, `.staging-${process.pid}-${Date.now()}`);
  const layout = await OciLayout.create(staging);
  await layout.writeImage(img, { layers: opts.sparse ? 'none' : 'all', replaceIndex: true });
  await rename(staging, join(base, img.digest));
  return `registry.example.com/base-image@${img.digest}`;
}
