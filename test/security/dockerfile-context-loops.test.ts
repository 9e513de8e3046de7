// Attack: a build context made to make COPY/ADD loop or block: symlink cycles (self, pair, a
// chain of 60, a directory symlink back to its parent), picked directly, by a wildcard, inside a
// copied directory and by `COPY . /`; and special files a naive copy would read forever (a FIFO,
// a character device that never ends). Each build either copies the links as links (inside a
// copied directory) or fails with a typed BuildError; none hangs, and nothing outside changes.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { attemptBuild, HEAD, type ContextEntry } from './build-helpers.js';
import { watchOutside } from './outside.js';

const LOOPS: Record<string, ContextEntry> = {
  'self': { symlink: 'self' },
  'pair-a': { symlink: 'pair-b' },
  'pair-b': { symlink: 'pair-a' },
  'tree/file': 'in the tree\n',
  'tree/up': { symlink: '..' },
  'tree/abs-up': { symlink: '/' },
  ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`chain-${i}`, { symlink: i === 59 ? 'chain-0' : `chain-${i + 1}` }])),
};

/** The build, bounded: a hang is a failure of its own. */
async function bounded<T>(p: Promise<T>, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`build did not finish in ${ms} ms (hang)`)), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

describe.runIf(isRoot)('hostile build context: symlink loops and endless files', () => {
  it.each([
    ['a self-loop', 'COPY self /x'],
    ['a two-link cycle', 'COPY pair-a /x'],
    ['a 60-link cycle', 'COPY chain-0 /x'],
    ['a path through a directory loop', 'COPY tree/up/tree/up/tree/up/pair-a /x'],
    ['ADD of a loop', 'ADD pair-b /x'],
    ['a wildcard matching loops (top-level sources are followed, as in Docker)', 'COPY chain-1* /w/'],
  ])('%s → a typed error, no hang', async (_n, line) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await bounded(attemptBuild(scratch, `${HEAD}${line}\n`, LOOPS));
    expect(r.ok).toBe(false);
    expect(['SYMLINK_LOOP', 'CONTEXT_ESCAPE', 'SOURCE_NOT_FOUND']).toContain(r.error?.code);
    await watch.assertUnchanged();
  });

  it('COPY . / and COPY tree /t/ copy the loops inside them as links', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await bounded(attemptBuild(scratch, `${HEAD}COPY . /ctx/\nCOPY tree /t/\n`, LOOPS));
    if (!r.ok) throw r.error;
    const fs = r.fs!;
    expect(fs.get('ctx/self')).toMatchObject({ type: 'symlink', link: 'self' });
    expect(fs.get('t/up')).toMatchObject({ type: 'symlink', link: '..' });
    expect(fs.get('t/abs-up')).toMatchObject({ type: 'symlink', link: '/' });
    expect(fs.get('ctx/chain-7')).toMatchObject({ type: 'symlink', link: 'chain-8' });
    await watch.assertUnchanged();
  });

  it('a FIFO and a character device in the context are refused or copied as nodes, never read forever', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const ctx = join(scratch, 'ctx');
    mkdirSync(join(ctx, 'dir'), { recursive: true });
    execFileSync('mkfifo', [join(ctx, 'fifo')]);
    execFileSync('mknod', [join(ctx, 'dir', 'zero'), 'c', '1', '5']);
    for (const line of ['COPY fifo /f', 'COPY dir /d/', 'COPY . /all/', 'ADD fifo /a']) {
      const s = await watch.scratch();
      mkdirSync(join(s, 'ctx'), { recursive: true });
      execFileSync('cp', ['-a', `${ctx}/.`, join(s, 'ctx')]);
      const r = await bounded(attemptBuild(s, `${HEAD}${line}\n`, {}), 60_000);
      if (!r.ok) expect(r.error?.name, line).toBe('BuildError');
      else for (const [p, e] of r.fs!) if (p.endsWith('zero') || p.endsWith('fifo')) expect(e.type, `${line}: ${p}`).not.toBe('file');
    }
    await watch.assertUnchanged();
  });
});
