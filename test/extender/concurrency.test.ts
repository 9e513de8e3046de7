// PACK runs the build and the run extender at the same time on one /kaniko volume (contract.md
// §4.3, §9.23): both must succeed, share the step cache, and leave only `cache` behind.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeEngine } from './helpers/fake-engine.js';
import { scenario } from './helpers/scenario.js';

describe('concurrent build and run extenders sharing <kaniko-dir>', () => {
  it('both succeed, both outputs are complete, <kaniko-dir> holds only cache; a warm pair hits the cache', async () => {
    const s = await scenario('0.13');
    for (const round of [0, 1]) {
      const eb = new FakeEngine();
      const er = new FakeEngine();
      const [b, r] = await Promise.all([s.run(['-skip-builder'], {}, eb), s.run(['-kind', 'run'], {}, er)]);
      expect([b.code, r.code, b.stdout + r.stdout]).toEqual([0, 0, expect.not.stringMatching(/ERROR/)]);
      expect(await readdir(join(s.t.extended, 'build'))).toHaveLength(1);
      expect(await readdir(join(s.t.extended, 'run'))).toHaveLength(1);
      expect(await readdir(s.t.kaniko)).toEqual(['cache']);
      expect((await readdir(join(s.t.kaniko, 'cache'))).sort()).toEqual(['base', 'layers']);
      const installs = [...eb.executed, ...er.executed].filter((c) => c.includes('install'));
      expect(installs).toHaveLength(round === 0 ? 4 : 0);
    }
  });
});
