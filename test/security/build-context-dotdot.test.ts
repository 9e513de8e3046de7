// Attack: COPY/ADD sources that climb out of the build context with `..` (plain, hidden in the
// middle of a path, in a wildcard, with --parents, in JSON form), aimed at a victim file outside
// the context. Each is refused with CONTEXT_ESCAPE before anything is read or written, and nothing
// outside the test's temp dirs changes.
import { basename, dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { attemptBuild, HEAD } from './build-helpers.js';
import { watchOutside } from './outside.js';

describe.runIf(isRoot)('hostile build context: `..` in COPY/ADD sources', () => {
  const cases: Array<[string, (rel: string, m: string) => string]> = [
    ['COPY ../x', (rel, m) => `COPY ${rel} /${m}`],
    ['ADD ../x', (rel, m) => `ADD ${rel} /${m}`],
    ['a path that climbs in the middle', (rel, m) => `COPY sub/../../${rel.slice(3)} /${m}`],
    ['a wildcard below ..', (rel, m) => `COPY ${dirname(rel)}/* /${m}/`],
    ['a lone ..', (_rel, m) => `COPY .. /${m}/`],
    ['COPY --parents ../x', (rel, m) => `COPY --parents ${rel} /${m}/`],
    ['JSON form', (rel, m) => `COPY ["${rel}", "/${m}"]`],
    ['an absolute source (read from the context, never the host)', (_rel, m) => `COPY /etc/passwd /${m}`],
  ];
  it.each(cases)('%s → CONTEXT_ESCAPE or not found, nothing read or written', async (name, line) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const ctx = join(scratch, 'ctx');
    const rel = relative(ctx, join(watch.victim, 'secret'));
    expect(rel.startsWith('../')).toBe(true);
    const r = await attemptBuild(scratch, `${HEAD}${line(rel, watch.marker)}\n`, { 'sub/inner': 'x' });
    expect(r.ok).toBe(false);
    if (name.startsWith('an absolute source')) {
      // `/etc/passwd` means `<context>/etc/passwd`, which does not exist.
      expect(r.error?.code).toBe('SOURCE_NOT_FOUND');
    } else {
      expect(r.error?.code).toBe('CONTEXT_ESCAPE');
      expect(r.error?.message).toMatch(/outside the build context/);
    }
    expect(r.error?.line).toBe(4);
    expect(basename(r.out)).toBe('out');
    await watch.assertUnchanged();
  });
});
