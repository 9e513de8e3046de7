// Our kind=run output and the lifecycle's own fixture, read by the same code the exporter uses
// (src/exporter/extended-run-reader.ts): same shape, same pairing of layers, history and IDs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readExtendedImageDir, readExtendedRunImage, type ExtendedRunImage } from '../../src/exporter/index.js';
import { entriesOf } from '../helpers/tar.js';
import { scenario } from './helpers/scenario.js';

// The lifecycle's exporter acceptance fixture (the directory also holds a README, so read the image dir).
const LIFECYCLE_FIXTURE = '/work/shared/fixtures/lifecycle-extended-run/sha256_c72eda1cc5b6c41360b95d73f881eff9d0655e56c693a2bc6cc9312c9e70aa24';

async function readAll(r: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** What the exporter relies on, as plain data. */
function shape(img: ExtendedRunImage) {
  const nonEmpty = (img.config.history ?? []).filter((h) => !h.empty_layer);
  return {
    oneManifest: true,
    layersMatchDiffIDs: img.layers.length === img.config.rootfs.diff_ids.length,
    historyPerLayer: nonEmpty.length === img.layers.length,
    createdZero: img.config.created === '0001-01-01T00:00:00Z',
    rebasableWritten: ['true', 'false'].includes(img.config.config?.Labels?.['io.buildpacks.rebasable'] ?? ''),
    // extension layers are a suffix: base blobs absent, every later blob present
    extensionSuffix: img.layers.findIndex((l) => l.present) === img.layers.length - img.extensionLayers.length,
    historyFormat: img.extensionLayers.every((l) => /^Layer: '.*', Created by extension: .+$/s.test(l.createdBy)),
  };
}

describe('the kind=run output has the shape the lifecycle exporter reads', () => {
  it.skipIf(!existsSync(LIFECYCLE_FIXTURE))('the lifecycle fixture, through the exporter reader', async () => {
    const img = await readExtendedImageDir(LIFECYCLE_FIXTURE);
    expect(shape(img)).toEqual({
      oneManifest: true,
      layersMatchDiffIDs: true,
      historyPerLayer: true,
      createdZero: true,
      rebasableWritten: true,
      extensionSuffix: true,
      historyFormat: true,
    });
    expect(img.extensionLayers.map((l) => l.extensionId)).toEqual(['first-extension', 'second-extension']);
  });

  it('our output, through the same reader: same shape, IDs and created_by survive, layers re-tar', async () => {
    const s = await scenario('0.13');
    const r = await s.run(['-kind', 'run']);
    expect(r.code).toBe(0);
    const img = (await readExtendedRunImage(join(s.t.extended, 'run')))!;
    expect(shape(img)).toEqual({
      oneManifest: true,
      layersMatchDiffIDs: true,
      historyPerLayer: true,
      createdZero: true,
      rebasableWritten: true,
      extensionSuffix: true,
      historyFormat: true,
    });
    expect(img.extensionLayers.map((l) => [l.extensionId, l.createdBy])).toEqual([
      ['curl', "Layer: 'RUN apt-get update && apt-get install -y curl', Created by extension: curl"],
      ['curl', "Layer: 'COPY run-file /', Created by extension: curl"],
      ['tree', "Layer: 'RUN apt-get update && apt-get install -y tree', Created by extension: tree"],
      ['tree', "Layer: 'COPY shared-file /shared-run', Created by extension: tree"],
    ]);
    expect(img.extensionLayers[0]!.index).toBe(s.base.layers.length);
    const names: string[] = [];
    for (const l of img.extensionLayers) names.push(...entriesOf(await readAll(await l.openNormalized())).map((e) => e.name));
    expect(names).toEqual(['usr/bin/curl', 'run-file', 'usr/bin/tree', 'shared-run']);
  });
});
