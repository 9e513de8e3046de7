// The -json report: its shape, the facts taken from a typed error chain, and the atomic write
// (a report replaces the previous one whole, and leaves no temporary file behind).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/build/index.js';
import { errorFacts, ReportBuilder, writeJsonAtomic } from '../../src/cli/report.js';
import { tmpDir } from '../helpers/tmp.js';

describe('-json report', () => {
  it('collects steps, cache hits, layers and output; failed runs carry the error facts', () => {
    const r = new ReportBuilder('apply');
    r.inputs = { base: 'b' };
    r.step({ instruction: 'RUN a', line: 3, durationMs: 5, cache: 'hit', layer: null });
    r.step({ instruction: 'RUN b', line: 4, durationMs: 7, cache: 'miss', layer: { digest: 'sha256:1', diffID: 'sha256:2', size: 3 } });
    const ok = r.finish(0, ['w'], null);
    expect(ok).toMatchObject({ schemaVersion: 1, command: 'apply', status: 'succeeded', exitCode: 0, cacheHits: 1, warnings: ['w'], error: null, inputs: { base: 'b' } });
    expect(ok.tool.name).toBe('cnb-extender');
    expect(ok.steps).toHaveLength(2);

    const cause = new BuildError('RUN_FAILED', 'ext/run.Dockerfile:4: RUN b: the command returned a non-zero code: 2', { file: 'ext/run.Dockerfile', line: 4, exitCode: 2 });
    const wrapped = new Error('extending run image', { cause });
    expect(errorFacts(wrapped, 'msg', 102)).toEqual({ message: 'msg', exitCode: 102, name: 'BuildError', code: 'RUN_FAILED', file: 'ext/run.Dockerfile', line: 4 });
  });

  it('is written atomically: the old report is replaced whole, no temp file is left', async () => {
    const dir = await tmpDir();
    const p = join(dir, 'sub', 'report.json');
    await writeJsonAtomic(p, { a: 1 });
    await writeJsonAtomic(p, { a: 2, b: 'x'.repeat(100_000) });
    expect(JSON.parse(await readFile(p, 'utf8'))).toMatchObject({ a: 2 });
    expect(await readdir(join(dir, 'sub'))).toEqual(['report.json']);
    // A target that cannot be replaced (a directory) fails and leaves nothing behind either.
    await writeFile(join(dir, 'f'), 'keep');
    await expect(writeJsonAtomic(join(dir, 'sub'), { a: 3 })).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['f', 'sub']);
  });
});
