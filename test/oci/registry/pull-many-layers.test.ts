// Pulling an image with many layers at high concurrency: every layer in flight listens on the pull's
// abort signal, which must not trip Node's MaxListenersExceededWarning (a false "leak" report).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, validateLayout, type Registry } from '../../../oci/index.js';
import { useRegistry } from '../../helpers/registry.js';
import { tmpDir } from '../../helpers/tmp.js';
import { memoryImage } from './images.js';
import { clientFor } from './support.js';

const server = useRegistry();
let reg: Registry;
beforeAll(() => {
  reg = clientFor(server().host, { concurrency: 12 });
});
afterAll(async () => {
  await reg?.close();
});

describe('pull with 12 layers in flight', () => {
  it('writes every layer and emits no MaxListenersExceededWarning', async () => {
    const img = memoryImage({ layers: Array.from({ length: 12 }, (_, i) => ({ [`f${i}`]: `layer ${i}\n` })), pad: 256 * 1024, label: 'many' });
    const ref = `${server().host}/many/layers:latest`;
    await reg.write(ref, img);
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const dir = join(await tmpDir(), 'pulled');
      await reg.pull(ref, dir, { signal: new AbortController().signal });
      await validateLayout(dir);
      expect((await (await OciLayout.open(dir)).image({ digest: img.digest })).layers).toHaveLength(12);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  });
});
